// The rpg game in figures:
//  - press_inline_button latency (p50, p99) in memory and with the state file written
//    atomically (fsync) after every press, in the data home's directory (--dir);
//  - balance over many seeds: how often the scripted planner beats the boss, in how many moves
//    and at which level, how often it dies; how long the naive hunter lives.
//   naut_rpg_bench [--seeds N] [--presses N] [--dir PATH]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/ids.h"
#include "envs/testing/rpg_driver.h"

using namespace naut;
using namespace naut::envs::rpg;
namespace rpg_testing = naut::envs::rpg::testing;
namespace fs = std::filesystem;

struct Latency {
  double p50_us = 0, p99_us = 0;
};

Latency MeasurePresses(const fs::path& state_file, int presses) {
  auto world = RpgWorld::Open(state_file, 1);
  if (!world) {
    std::fprintf(stderr, "%s\n", world.error().ToString().c_str());
    std::exit(1);
  }
  (*world)->SendMessage(Json{{"chat_id", kGameChatId}, {"message", "/start"}});
  std::vector<double> us;
  us.reserve(presses);
  for (int i = 0; i < presses; ++i) {
    // Forest, town, forest, ...: each press edits the menu and (with a file) saves the game.
    Json args{{"chat_id", kGameChatId},
              {"button_text", i % 2 == 0 ? "🌲 Forest" : "🏰 Back to town"}};
    auto t0 = std::chrono::steady_clock::now();
    auto r = (*world)->PressInlineButton(args);
    auto t1 = std::chrono::steady_clock::now();
    if (r.is_error) std::exit(1);
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 99 / 100]};
}

int main(int argc, char** argv) {
  int seeds = 200, presses = 2000;
  fs::path dir = fs::temp_directory_path();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--seeds") seeds = std::stoi(argv[i + 1]);
    if (flag == "--presses") presses = std::stoi(argv[i + 1]);
    if (flag == "--dir") dir = argv[i + 1];
  }
  Latency mem = MeasurePresses("", presses);
  fs::path file_dir = dir / ("naut-rpg-bench-" + NewId());
  Latency disk = MeasurePresses(file_dir / "state.json", presses);
  fs::remove_all(file_dir);
  std::printf("press_inline_button, in memory:        p50 %8.1f us  p99 %8.1f us  (%d presses)\n",
              mem.p50_us, mem.p99_us, presses);
  std::printf("press_inline_button, saved after each: p50 %8.1f us  p99 %8.1f us  (%d presses)\n",
              disk.p50_us, disk.p99_us, presses);

  int wins = 0, died = 0, naive_dead = 0;
  long moves = 0, levels = 0, naive_moves = 0;
  for (int seed = 1; seed <= seeds; ++seed) {
    rpg_testing::Driver d{*RpgWorld::Open("", static_cast<uint64_t>(seed))};
    d.check_invariants = false;
    auto out = rpg_testing::PlayScripted(d);
    if (out.boss_defeated) {
      ++wins;
      moves += d.calls;
      levels += out.level;
    }
    if (out.deaths > 0) ++died;
    rpg_testing::Driver n{*RpgWorld::Open("", static_cast<uint64_t>(seed))};
    n.check_invariants = false;
    auto naive = rpg_testing::PlayNaive(n);
    if (naive.deaths > 0) {
      ++naive_dead;
      naive_moves += n.calls;
    }
  }
  std::printf(
      "planner: beat the boss in %d/%d seeds; mean %.0f tool calls, mean level %.2f at the win; "
      "died at least once in %d seeds\n",
      wins, seeds, wins ? double(moves) / wins : 0.0, wins ? double(levels) / wins : 0.0, died);
  std::printf("naive hunter: died in %d/%d seeds, after %.0f tool calls on average\n", naive_dead,
              seeds, naive_dead ? double(naive_moves) / naive_dead : 0.0);
  return 0;
}
