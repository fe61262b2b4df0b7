#include "core/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

extern char** environ;

namespace dsx {

namespace {

// posix_spawn file actions that keep 0-2 (after any redirection made before) and close every other
// descriptor in the child (glibc ≥ 2.34).
class FileActions {
 public:
  FileActions() { posix_spawn_file_actions_init(&fa_); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  void dup_to(int fd, int target) { check(posix_spawn_file_actions_adddup2(&fa_, fd, target), "adddup2"); }
  void close_the_rest() { check(posix_spawn_file_actions_addclosefrom_np(&fa_, 3), "addclosefrom_np"); }
  const posix_spawn_file_actions_t* get() const { return &fa_; }

 private:
  static void check(int rc, const char* what) {
    if (rc != 0) fail("posix_spawn_file_actions_{}: {}", what, std::strerror(rc));
  }
  posix_spawn_file_actions_t fa_;
};

pid_t spawn_shell(const std::string& command, const FileActions& actions) {
  const char* argv[] = {"sh", "-c", command.c_str(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/bin/sh", actions.get(), nullptr, const_cast<char* const*>(argv), environ);
  if (rc != 0) fail("cannot start /bin/sh for `{}`: {}", command, std::strerror(rc));
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) fail("waitpid: {}", std::strerror(errno));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

int run_shell(const std::string& command) {
  FileActions actions;
  actions.close_the_rest();
  return wait_for(spawn_shell(command, actions));
}

std::string run_shell_capture(const std::string& command, int* status) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) fail("pipe: {}", std::strerror(errno));
  FileActions actions;
  actions.dup_to(pipe_fds[1], 1);  // dup2 clears close-on-exec on the copy
  actions.close_the_rest();
  pid_t pid = 0;
  try {
    pid = spawn_shell(command, actions);
  } catch (...) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    throw;
  }
  ::close(pipe_fds[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
    if (n > 0)
      out.append(buf, size_t(n));
    else if (n == 0 || errno != EINTR)
      break;
  }
  ::close(pipe_fds[0]);
  *status = wait_for(pid);
  return out;
}

}  // namespace dsx
