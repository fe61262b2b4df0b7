#pragma once
// `--nproc N` on one machine: starts N copies of this very command as ranks 0 … N−1 with torchrun's
// environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1, MASTER_PORT = a free port) and waits.
// The first rank that fails (exit status or signal) stops the others (SIGTERM, then SIGKILL after a grace
// period); the message names the rank and how it ended. A killed launcher takes the ranks with it
// (PR_SET_PDEATHSIG). Rank processes share this terminal.
#include <string>
#include <vector>

namespace dsx::dist {

// argv: the command line without --nproc (argv[0] is ignored: the ranks run /proc/self/exe).
// Returns 0 when every rank exited 0, else 1 (the message is printed to stderr).
int launch_local(int nproc, const std::vector<std::string>& argv);

// A port the kernel picks on 127.0.0.1, released for rank 0's store to bind (the window between the two is
// short; a clash fails the rendezvous with a clear error, and a rerun picks again).
int free_loopback_port();

// This process's command line (/proc/self/cmdline) with `--nproc N` / `--nproc=N` taken out.
std::vector<std::string> command_line_without(const std::string& option);

}  // namespace dsx::dist
