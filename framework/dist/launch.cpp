#include "dist/launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"

namespace dsx::dist {
namespace {

constexpr auto kGrace = std::chrono::seconds(10);  // between SIGTERM and SIGKILL when stopping the ranks

std::string how_it_ended(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return "stopped";
}

volatile sig_atomic_t g_interrupted = 0;
void on_signal(int sig) { g_interrupted = sig; }

}  // namespace

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail("cannot open a socket to pick a port: {}", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    fail("cannot pick a free port on 127.0.0.1: {}", std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::vector<std::string> command_line_without(const std::string& option) {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string a; std::getline(in, a, '\0');) args.push_back(a);
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == option) {
      ++i;  // and its value
      continue;
    }
    if (args[i].rfind(option + "=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  return out;
}

int launch_local(int nproc, const std::vector<std::string>& argv) {
  const int port = free_loopback_port();
  std::map<pid_t, int> ranks;  // pid → rank
  for (int r = 0; r < nproc; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) fail("--nproc: fork failed for rank {}: {}", r, std::strerror(errno));
    if (pid == 0) {
      // A launcher that is killed takes its ranks with it (no orphan keeps computing or holding locks).
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() == 1) ::_exit(1);
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> cargv;
      for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
      cargv.push_back(nullptr);
      ::execv("/proc/self/exe", cargv.data());
      std::fprintf(stderr, "--nproc: cannot start rank %d: %s\n", r, std::strerror(errno));
      ::_exit(127);
    }
    ranks[pid] = r;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::string failure;
  auto stop_all = [&](int sig) {
    for (const auto& [pid, r] : ranks) ::kill(pid, sig);
  };
  std::chrono::steady_clock::time_point term_sent{};
  bool terminating = false;
  while (!ranks.empty()) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      const int r = ranks.at(pid);
      ranks.erase(pid);
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!ok && failure.empty() && !terminating)
        failure = fmt::format("rank {} of {} (pid {}) {}", r, nproc, pid, how_it_ended(status));
      if (!ok && !terminating) {
        terminating = true, term_sent = std::chrono::steady_clock::now();
        stop_all(SIGTERM);
      }
      continue;
    }
    if (g_interrupted && !terminating) {
      failure = fmt::format("interrupted (signal {})", int(g_interrupted));
      terminating = true, term_sent = std::chrono::steady_clock::now();
      stop_all(SIGTERM);
    }
    if (terminating && std::chrono::steady_clock::now() - term_sent > kGrace) stop_all(SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (failure.empty()) return 0;
  fmt::print(stderr,
             "dsx: {}; the other ranks were stopped. Finished stages and committed teacher shards are in the "
             "cache: rerun the same command to resume.\n",
             failure);
  return 1;
}

}  // namespace dsx::dist
