#!/usr/bin/env bash
# Installs every build and run dependency of dsx on Debian 12 (bookworm). Non-interactive and idempotent:
# a second run with everything present does nothing.
set -euo pipefail

packages=(
  g++ cmake ninja-build git ccache pkg-config
  libtorch-dev libopenblas0-pthread   # without OpenBLAS, LibTorch falls back to reference BLAS (~40x slower)
  libyaml-cpp-dev libhdf5-dev hdf5-tools libtbb-dev libboost-test-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libxxhash-dev
  clang-format                        # tools/check-format.sh, the `format` test
  gnuplot-nox                         # plots in run reports
  zlib1g-dev libpng-dev               # gzipped IDX datasets, PNG image folders and sample grids
  libzip-dev                          # .npz reference statistics (EDM / pytorch-fid mu, sigma)
  libgloo-dev                         # the headers of c10d's ProcessGroupGloo (multi-process runs)
  dataset-fashion-mnist               # the Fashion-MNIST images (empirical testbed, training data)
  python3-torch python3-h5py          # tools/export/: checkpoint exporters and their self-check
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
echo "install-deps: done"
