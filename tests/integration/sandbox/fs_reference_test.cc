// Our `fs` server against the reference @modelcontextprotocol/server-filesystem, both real
// processes driven by our MCP client: the same tools and arguments, and the same answers
// (texts and isError) to the same calls, including the refusals.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/ids.h"
#include "mcp/client.h"
#include "mcp/stdio.h"

namespace naut::mcp {
namespace {

namespace fs = std::filesystem;

const fs::path kModules = fs::path(NAUT_SOURCE_DIR) / "tests" / "peers" / "node_modules";

std::string Text(const ToolResult& r) {
  std::string out;
  for (const auto& c : r.content)
    if (c.data.contains("text")) out += c.data["text"].get<std::string>();
  return out;
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
  return s;
}

void Write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// Two identical trees (one per server, so that writes do not interfere) and a secret beside.
void MakeTree(const fs::path& root) {
  fs::create_directories(root / "src" / "deep");
  fs::create_directories(root / "empty");
  Write(root / "notes.txt", "alpha\nbeta\ngamma\ndelta\n");
  Write(root / "src" / "main.py",
        "def main():\n    print('hi')\n\n\nif __name__ == '__main__':\n    main()\n");
  Write(root / "src" / "deep" / "data.txt", "1\n2\n3");
  Write(root / ".hidden.txt", "h\n");
}

class FsReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kModules / "@modelcontextprotocol" / "server-filesystem")) {
      GTEST_SKIP()
          << "npm peers are not installed: run `npm ci` in tests/peers (scripts/setup.sh does)";
    }
    base_ = fs::temp_directory_path() / ("naut-fsref-" + NewId());
    fs::create_directories(base_ / "home");
    fs::create_directories(base_ / "outside");
    Write(base_ / "outside" / "secret.txt", "secret");
    base_ = fs::canonical(base_);
    ref_dir_ = base_ / "ref";
    our_dir_ = base_ / "our";
    MakeTree(ref_dir_);
    MakeTree(our_dir_);
    fs::create_symlink(base_ / "outside" / "secret.txt", ref_dir_ / "escape.txt");
    fs::create_symlink(base_ / "outside" / "secret.txt", our_dir_ / "escape.txt");
    fs::path node = kModules / ".bin" / "node";
    ref_ = Connect("reference",
                   {fs::exists(node) ? node.string() : "node",
                    (kModules / "@modelcontextprotocol/server-filesystem/dist/index.js").string(),
                    ref_dir_.string()});
    our_ = Connect("ours", {NAUT_CLI, "--home", (base_ / "home").string(), "--set",
                            "sandbox.fs_roots=" + our_dir_.string(), "mcp-server", "fs"});
    ASSERT_TRUE(ref_ && our_);
  }
  void TearDown() override {
    ref_.reset();
    our_.reset();
    std::error_code ec;
    if (!base_.empty()) fs::remove_all(base_, ec);
  }
  std::unique_ptr<Client> Connect(const std::string& name, std::vector<std::string> argv) {
    auto c = Client::Connect(
        std::make_unique<StdioClientTransport>(name, SpawnOptions{.argv = std::move(argv)}), {});
    EXPECT_TRUE(c) << name << ": " << c.error().ToString();
    return c ? std::move(*c) : nullptr;
  }
  // Calls `tool` on both servers (paths written with "ROOT" for each server's directory) and
  // expects the same isError and the same text once the roots are put back to "ROOT".
  void Same(const std::string& tool, const std::string& args_template) {
    auto call = [&](Client& c, const fs::path& root) {
      auto args = ParseJson(Replace(args_template, "ROOT", root.string()), "args");
      EXPECT_TRUE(args.ok());
      auto r = c.CallTool(tool, *args);
      EXPECT_TRUE(r.ok()) << tool << ": " << r.error().ToString();
      return r.ok() ? *r : ToolResult{};
    };
    ToolResult a = call(*ref_, ref_dir_);
    ToolResult b = call(*our_, our_dir_);
    EXPECT_EQ(a.is_error, b.is_error)
        << tool << " " << args_template << "\nreference: " << Text(a) << "\nours: " << Text(b);
    EXPECT_EQ(Replace(Text(a), ref_dir_.string(), "ROOT"),
              Replace(Text(b), our_dir_.string(), "ROOT"))
        << tool << " " << args_template;
  }

  fs::path base_, ref_dir_, our_dir_;
  std::unique_ptr<Client> ref_, our_;
};

TEST_F(FsReferenceTest, SameToolsAndArguments) {
  auto ref_tools = ref_->ListTools();
  auto our_tools = our_->ListTools();
  ASSERT_TRUE(ref_tools && our_tools);
  std::map<std::string, ToolInfo> ours;
  for (const auto& t : *our_tools) ours[t.name] = t;
  for (const auto& t : *ref_tools) {
    ASSERT_TRUE(ours.count(t.name)) << "missing tool " << t.name;
    const ToolInfo& o = ours[t.name];
    auto names = [](const Json& schema, const char* key) {
      std::set<std::string> out;
      if (!schema.is_object() || !schema.contains(key)) return out;
      const Json& v = schema[key];
      if (v.is_object()) {
        for (auto it = v.begin(); it != v.end(); ++it) out.insert(it.key());
      } else if (v.is_array()) {
        for (const auto& r : v) out.insert(r.get<std::string>());
      }
      return out;
    };
    std::set<std::string> ref_props = names(t.input_schema, "properties"),
                          our_props = names(o.input_schema, "properties");
    EXPECT_EQ(ref_props, our_props) << t.name;
    std::set<std::string> ref_req = names(t.input_schema, "required"),
                          our_req = names(o.input_schema, "required");
    EXPECT_EQ(ref_req, our_req) << t.name;
    EXPECT_EQ(t.annotations.value("readOnlyHint", false),
              o.annotations.value("readOnlyHint", false))
        << t.name;
  }
  EXPECT_EQ(ref_tools->size(), our_tools->size());
}

TEST_F(FsReferenceTest, SameAnswersToReads) {
  Same("list_allowed_directories", "{}");
  Same("read_text_file", R"({"path": "ROOT/notes.txt"})");
  Same("read_file", R"({"path": "ROOT/notes.txt"})");
  Same("read_text_file", R"({"path": "ROOT/notes.txt", "head": 2})");
  Same("read_text_file", R"({"path": "ROOT/notes.txt", "tail": 2})");
  Same("read_text_file", R"({"path": "ROOT/src/deep/data.txt", "tail": 2})");
  Same("read_text_file", R"({"path": "ROOT/notes.txt", "head": 1, "tail": 1})");
  Same("read_multiple_files", R"({"paths": ["ROOT/notes.txt", "ROOT/src/main.py"]})");
  Same("list_directory", R"({"path": "ROOT/src"})");
  Same("list_directory", R"({"path": "ROOT"})");
  Same("list_directory_with_sizes", R"({"path": "ROOT/src"})");
  Same("list_directory_with_sizes", R"({"path": "ROOT/src", "sortBy": "size"})");
  Same("directory_tree", R"({"path": "ROOT/src"})");
  Same("directory_tree", R"({"path": "ROOT", "excludePatterns": ["deep", "*.txt"]})");
  Same("search_files", R"({"path": "ROOT", "pattern": "**/*.txt"})");
  Same("search_files", R"({"path": "ROOT", "pattern": "*.py"})");
  Same("search_files", R"({"path": "ROOT", "pattern": "**/*.py", "excludePatterns": ["src/**"]})");
  Same("search_files", R"({"path": "ROOT", "pattern": "nothing-*"})");
}

TEST_F(FsReferenceTest, SameAnswersToWrites) {
  Same("write_file", R"({"path": "ROOT/new.txt", "content": "fresh\n"})");
  Same("write_file", R"({"path": "ROOT/new.txt", "content": "replaced\n"})");
  Same("read_text_file", R"({"path": "ROOT/new.txt"})");
  Same(
      "edit_file",
      R"j({"path": "ROOT/src/main.py", "edits": [{"oldText": "print('hi')", "newText": "print('hello')"}], "dryRun": true})j");
  Same(
      "edit_file",
      R"j({"path": "ROOT/src/main.py", "edits": [{"oldText": "def main():", "newText": "def main() -> None:"}, {"oldText": "  main()", "newText": "  main()  # run"}]})j");
  Same("read_text_file", R"({"path": "ROOT/src/main.py"})");
  Same("edit_file",
       R"({"path": "ROOT/notes.txt", "edits": [{"oldText": "not there", "newText": "x"}]})");
  Same("create_directory", R"({"path": "ROOT/made"})");
  Same("create_directory", R"({"path": "ROOT/made"})");
  Same("move_file", R"({"source": "ROOT/new.txt", "destination": "ROOT/made/moved.txt"})");
  Same("list_directory", R"({"path": "ROOT/made"})");
  Same("move_file", R"({"source": "ROOT/gone.txt", "destination": "ROOT/made/x.txt"})");
}

TEST_F(FsReferenceTest, SameRefusals) {
  const std::string outside = (base_ / "outside").string();
  Same("read_text_file", R"({"path": ")" + outside + R"(/secret.txt"})");
  Same("read_text_file", R"({"path": "ROOT/../outside/secret.txt"})");
  Same("read_text_file", R"({"path": "ROOT/escape.txt"})");
  Same("write_file", R"({"path": "ROOT/escape.txt", "content": "pwned"})");
  Same("write_file", R"({"path": ")" + outside + R"(/new.txt", "content": "x"})");
  Same("write_file", R"({"path": "ROOT/no/such/dir/f.txt", "content": "x"})");
  Same("create_directory", R"({"path": "ROOT/a/b/c"})");
  Same("list_directory", R"({"path": "/etc"})");
  Same("move_file",
       R"({"source": "ROOT/notes.txt", "destination": ")" + outside + R"(/notes.txt"})");
  Same("read_text_file", R"({"path": "ROOT/missing.txt"})");
  Same("read_multiple_files",
       R"({"paths": ["ROOT/notes.txt", ")" + outside + R"(/secret.txt", "ROOT/missing.txt"]})");
  Same("get_file_info", R"({"path": "/etc/passwd"})");
  EXPECT_EQ(std::ifstream(base_ / "outside" / "secret.txt").get(), 's');
  EXPECT_FALSE(fs::exists(base_ / "outside" / "new.txt"));
  EXPECT_FALSE(fs::exists(base_ / "outside" / "notes.txt"));
  // Bad arguments are error results on both, whatever the wording.
  for (auto* c : {ref_.get(), our_.get()}) {
    auto r = c->CallTool("read_text_file", Json::object());
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_TRUE(r->is_error);
  }
}

TEST_F(FsReferenceTest, FileInfoHasTheSameFields) {
  auto a = ref_->CallTool("get_file_info", Json{{"path", (ref_dir_ / "notes.txt").string()}});
  auto b = our_->CallTool("get_file_info", Json{{"path", (our_dir_ / "notes.txt").string()}});
  ASSERT_TRUE(a && b);
  auto keys = [](const std::string& text) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      std::string line =
          text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      out.push_back(line.substr(0, line.find(':')));
      if (line.rfind("size", 0) == 0 || line.rfind("is", 0) == 0 ||
          line.rfind("permissions", 0) == 0)
        out.back() = line;
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
    return out;
  };
  EXPECT_EQ(keys(Text(*a)), keys(Text(*b))) << Text(*a) << "\n---\n" << Text(*b);
}

}  // namespace
}  // namespace naut::mcp
