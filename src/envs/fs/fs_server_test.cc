#include "envs/fs/fs_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

namespace naut::envs::fs {
namespace {

namespace stdfs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class FsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    base_ = stdfs::temp_directory_path() / ("naut-fs-test-" + std::to_string(rd()));
    root_ = base_ / "root";
    outside_ = base_ / "outside";
    stdfs::create_directories(root_ / "sub");
    stdfs::create_directories(outside_);
    Write(outside_ / "secret.txt", "secret");
    Write(root_ / "a.txt", "one\ntwo\nthree\n");
    Write(root_ / "sub" / "b.md", "# b\n");
    root_ = stdfs::canonical(root_);
    auto server = FsServer::Create({{root_}, 1024});
    ASSERT_TRUE(server.ok()) << server.error().ToString();
    server_ = *server;
    tools_ = server_->Tools();
  }
  void TearDown() override {
    tools_.clear();
    server_.reset();
    std::error_code ec;
    stdfs::remove_all(base_, ec);
  }
  static void Write(const stdfs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
  }
  static std::string Read(const stdfs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  mcp::ToolResult Call(const std::string& name, const Json& args) {
    for (auto& t : tools_) {
      if (t.name == name) {
        mcp::ToolContext c;
        return t.handler(args, c);
      }
    }
    ADD_FAILURE() << "no tool " << name;
    return {};
  }
  static std::string Text(const mcp::ToolResult& r) {
    return r.content.empty() ? "" : r.content[0].data.value("text", std::string());
  }
  std::string P(const std::string& rel) const { return (root_ / rel).string(); }

  stdfs::path base_, root_, outside_;
  std::shared_ptr<FsServer> server_;
  std::vector<mcp::Tool> tools_;
};

TEST_F(FsServerTest, ToolNamesMatchTheReference) {
  std::vector<std::string> names;
  for (const auto& t : tools_) names.push_back(t.name);
  EXPECT_THAT(names, ::testing::ElementsAre(
                         "read_file", "read_text_file", "read_media_file", "read_multiple_files",
                         "write_file", "edit_file", "create_directory", "list_directory",
                         "list_directory_with_sizes", "directory_tree", "move_file", "search_files",
                         "get_file_info", "list_allowed_directories"));
}

TEST_F(FsServerTest, ReadWriteAndHeadTail) {
  auto r = Call("read_text_file", {{"path", P("a.txt")}});
  EXPECT_FALSE(r.is_error);
  EXPECT_EQ(Text(r), "one\ntwo\nthree\n");
  EXPECT_EQ((*r.structured)["content"], "one\ntwo\nthree\n");
  EXPECT_EQ(Text(Call("read_text_file", {{"path", P("a.txt")}, {"head", 2}})), "one\ntwo");
  EXPECT_EQ(Text(Call("read_text_file", {{"path", P("a.txt")}, {"tail", 2}})), "three\n");
  EXPECT_EQ(Text(Call("read_text_file", {{"path", P("a.txt")}, {"head", 1}, {"tail", 1}})),
            "Cannot specify both head and tail parameters simultaneously");
  auto w = Call("write_file", {{"path", P("new.txt")}, {"content", "hello"}});
  EXPECT_EQ(Text(w), "Successfully wrote to " + P("new.txt"));
  EXPECT_EQ(Read(root_ / "new.txt"), "hello");
  Call("write_file", {{"path", P("new.txt")}, {"content", "again"}});
  EXPECT_EQ(Read(root_ / "new.txt"), "again");
}

TEST_F(FsServerTest, PathsOutsideTheRootsAreRefused) {
  auto r = Call("read_text_file", {{"path", (outside_ / "secret.txt").string()}});
  EXPECT_TRUE(r.is_error);
  EXPECT_THAT(Text(r), StartsWith("Access denied - path outside allowed directories: "));
  r = Call("read_text_file", {{"path", P("../outside/secret.txt")}});
  EXPECT_TRUE(r.is_error);
  EXPECT_THAT(Text(r), HasSubstr("Access denied"));
  r = Call("write_file", {{"path", "/etc/naut-evil"}, {"content", "x"}});
  EXPECT_TRUE(r.is_error);
  EXPECT_FALSE(stdfs::exists("/etc/naut-evil"));
  r = Call("write_file", {{"path", P("missing/dir/x.txt")}, {"content", "x"}});
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(Text(r), "Parent directory does not exist: " + P("missing/dir"));
}

TEST_F(FsServerTest, SymlinksAreResolvedBeforeTheCheck) {
  stdfs::create_symlink(outside_ / "secret.txt", root_ / "link.txt");
  stdfs::create_symlink(outside_, root_ / "linkdir");
  auto r = Call("read_text_file", {{"path", P("link.txt")}});
  EXPECT_TRUE(r.is_error);
  EXPECT_THAT(Text(r), StartsWith("Access denied - symlink target outside allowed directories: "));
  r = Call("write_file", {{"path", P("link.txt")}, {"content", "overwritten"}});
  EXPECT_TRUE(r.is_error);
  r = Call("write_file", {{"path", P("linkdir/new.txt")}, {"content", "x"}});
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(Read(outside_ / "secret.txt"), "secret");
  EXPECT_FALSE(stdfs::exists(outside_ / "new.txt"));
  r = Call("search_files", {{"path", P("")}, {"pattern", "**/*"}});
  EXPECT_THAT(Text(r), ::testing::Not(HasSubstr("secret")));
}

TEST_F(FsServerTest, EditFileDryRunAndApply) {
  Json edit = {
      {"path", P("a.txt")}, {"edits", {{{"oldText", "two"}, {"newText", "2"}}}}, {"dryRun", true}};
  auto dry = Call("edit_file", edit);
  EXPECT_FALSE(dry.is_error) << Text(dry);
  EXPECT_EQ(Text(dry),
            "```diff\nIndex: " + P("a.txt") +
                "\n===================================================================\n--- " +
                P("a.txt") + "\toriginal\n+++ " + P("a.txt") +
                "\tmodified\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n```\n\n");
  EXPECT_EQ(Read(root_ / "a.txt"), "one\ntwo\nthree\n");
  edit["dryRun"] = false;
  EXPECT_FALSE(Call("edit_file", edit).is_error);
  EXPECT_EQ(Read(root_ / "a.txt"), "one\n2\nthree\n");
  auto missing = Call("edit_file",
                      {{"path", P("a.txt")}, {"edits", {{{"oldText", "nope"}, {"newText", "x"}}}}});
  EXPECT_TRUE(missing.is_error);
  EXPECT_EQ(Text(missing), "Could not find exact match for edit:\nnope");
}

TEST_F(FsServerTest, ListingsTreeSearchInfo) {
  auto list = Text(Call("list_directory", {{"path", P("")}}));
  EXPECT_THAT(list, HasSubstr("[FILE] a.txt"));
  EXPECT_THAT(list, HasSubstr("[DIR] sub"));
  auto sizes = Text(Call("list_directory_with_sizes", {{"path", root_.string()}}));
  EXPECT_THAT(sizes, HasSubstr("Total: 1 files, 1 directories\nCombined size: 14 B"));
  auto tree = Json::parse(Text(Call("directory_tree", {{"path", root_.string()}})));
  bool saw_sub = false;
  for (const auto& e : tree) {
    if (e["name"] == "sub") {
      saw_sub = true;
      EXPECT_EQ(e["type"], "directory");
      EXPECT_EQ(e["children"][0]["name"], "b.md");
    }
  }
  EXPECT_TRUE(saw_sub);
  auto excluded = Json::parse(
      Text(Call("directory_tree", {{"path", root_.string()}, {"excludePatterns", {"sub"}}})));
  EXPECT_EQ(excluded.size(), 1u);
  EXPECT_EQ(Text(Call("search_files", {{"path", root_.string()}, {"pattern", "**/*.md"}})),
            P("sub/b.md"));
  EXPECT_EQ(Text(Call("search_files", {{"path", root_.string()}, {"pattern", "*.zip"}})),
            "No matches found");
  auto info = Text(Call("get_file_info", {{"path", P("a.txt")}}));
  EXPECT_THAT(info, StartsWith("size: 14\ncreated: "));
  EXPECT_THAT(info, HasSubstr("isFile: true\npermissions: "));
  EXPECT_EQ(Text(Call("list_allowed_directories", Json::object())),
            "Allowed directories:\n" + root_.string());
}

TEST_F(FsServerTest, MoveCreateAndMultipleReads) {
  // As in the reference, the parent of a new path must exist (so nested creation needs steps).
  EXPECT_EQ(Text(Call("create_directory", {{"path", P("x/y/z")}})),
            "Parent directory does not exist: " + P("x/y"));
  EXPECT_EQ(Text(Call("create_directory", {{"path", P("x")}})),
            "Successfully created directory " + P("x"));
  EXPECT_TRUE(stdfs::is_directory(root_ / "x"));
  EXPECT_EQ(Text(Call("move_file", {{"source", P("a.txt")}, {"destination", P("x/a.txt")}})),
            "Successfully moved " + P("a.txt") + " to " + P("x/a.txt"));
  auto multi = Text(Call("read_multiple_files", {{"paths", {P("x/a.txt"), P("none.txt")}}}));
  EXPECT_THAT(multi, StartsWith(P("x/a.txt") + ":\none\ntwo\nthree\n\n\n---\n" + P("none.txt") +
                                ": Error - "));
  auto refused =
      Call("move_file", {{"source", P("x/a.txt")}, {"destination", (outside_ / "a.txt").string()}});
  EXPECT_TRUE(refused.is_error);
  EXPECT_FALSE(stdfs::exists(outside_ / "a.txt"));
}

TEST_F(FsServerTest, ReadsAreCapped) {
  Write(root_ / "big.txt", std::string(4096, 'x'));
  auto r = Call("read_text_file", {{"path", P("big.txt")}});
  EXPECT_TRUE(r.is_error);
  EXPECT_THAT(Text(r), HasSubstr("File too large"));
  EXPECT_EQ(Text(Call("read_text_file", {{"path", P("big.txt")}, {"head", 1}})).size(), 4096u);
}

TEST_F(FsServerTest, BadArgumentsAreErrorResults) {
  EXPECT_TRUE(Call("read_text_file", Json::object()).is_error);
  EXPECT_TRUE(Call("read_text_file", {{"path", 3}}).is_error);
  EXPECT_TRUE(Call("read_multiple_files", {{"paths", Json::array()}}).is_error);
  EXPECT_TRUE(Call("edit_file", {{"path", P("a.txt")}, {"edits", "x"}}).is_error);
  EXPECT_TRUE(Call("list_directory_with_sizes", {{"path", P("")}, {"sortBy", "date"}}).is_error);
  EXPECT_TRUE(Call("write_file", Json::array()).is_error);
}

TEST_F(FsServerTest, RootsReplaceAllowedDirectories) {
  EXPECT_EQ(server_->SetRootsFromMcp(Json::array({{{"uri", "file:///nonexistent-naut"}}})), 0);
  EXPECT_EQ(server_->AllowedDirectories(), std::vector<std::string>{root_.string()});
  EXPECT_EQ(server_->SetRootsFromMcp(Json::array({{{"uri", "file://" + outside_.string()}}})), 1);
  EXPECT_FALSE(Call("read_text_file", {{"path", (outside_ / "secret.txt").string()}}).is_error);
  EXPECT_TRUE(Call("read_text_file", {{"path", P("a.txt")}}).is_error);
}

}  // namespace
}  // namespace naut::envs::fs
