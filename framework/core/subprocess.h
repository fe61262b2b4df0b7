#pragma once
// Child processes (gnuplot, the Python exporter, the eager benchmark) that inherit nothing but stdin, stdout
// and stderr.
//
// Why not std::system or popen: they pass on every descriptor the process holds, and HDF5 opens its files
// without close-on-exec and keeps an flock on each while open (a writer's is exclusive). A gnuplot that one
// stage starts while another writes an HDF5 file keeps that lock alive after the writer closes, for as long
// as gnuplot runs; a third stage reading the committed file then fails with "unable to lock the file"
// (errno 11). Seen in CI: an analysis stage's plot vs an evaluate stage's cached reference solution.
#include <string>

namespace dsx {

// Runs `command` with /bin/sh -c and waits for it. Returns its exit status (0 = success), 128 + N if signal N
// ended it; throws if it could not be started.
int run_shell(const std::string& command);

// The same, with the command's standard output returned (its standard error passes through).
std::string run_shell_capture(const std::string& command, int* status);

}  // namespace dsx
