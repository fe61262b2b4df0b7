#!/usr/bin/env python3
"""Spec fuzzer drill (issue 14): mutates every shipped config and runs dsx on each mutation.

    shipped config ─ mutation (seeded) ─ private copy of configs/ ─ dsx (time-boxed) ─ outcome class

Every run must end in one of
  ok          exit 0 (a mutation that is still a valid spec)
  user_error  exit 2 with a message that points into a spec: FILE.yaml:LINE:COL
and leave no file in the cache, the runs directory or the outputs (dry runs write nothing; a refused spec
writes nothing either). Anything else is a finding: a user error without a location, an internal error
(exit 3), a crash (signal), a hang (the time box) or a leftover file. `run` specs go through
`dsx run --dry-run` (parse, validate, plan and key every job: no computation, so a time-out is a hang);
`dsx teacher` configs through its --dry-run; `dsx sample` / `dsx train-amed` configs run for real inside
the time box (a valid mutation may legitimately ask for a long job: those count as `long_job`, not hangs).

  python3 tools/drills/spec_fuzz.py --dsx build/bin/dsx                # CI mode: fixed seed, 160 mutations
  python3 tools/drills/spec_fuzz.py --dsx build/bin/dsx --count 1200   # long mode
Exit status 1 when any finding was seen; the table of outcomes by operator is printed either way.
"""

import argparse
import collections
import concurrent.futures
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = os.path.join(ROOT, "configs")
LOCATION = re.compile(r"\.ya?ml:\d+:\d+")

# ---------------------------------------------------------------- mutation operators (one registry)
EXTREME_NUMBERS = ["1e308", "-1e308", "1e999", "99999999999999999999999", "-1", "-2147483649", "0", "-0.0",
                   ".nan", ".NaN", "nan", ".inf", "-.inf", "inf", "1e-320", "0x7fffffffffffffff", "0o777",
                   "9223372036854775808", "4.9e-324"]
WRONG_TYPES = ["[1, 2]", "{a: 1}", "\"text\"", "true", "~", "", "[]", "{}", "- 1", "!!binary aGVsbG8=",
               "2001-12-14", "[[1], [2]]", "'0-'", "3-1", "a-b"]
UNICODE = ["σ→∞ 😀", "\u202eevil", "名前", "\u0000", "e\u0301", "\ufeffbom", "ｆｕｌｌ", "\U0001F4A9" * 50]


def scalar_lines(lines):
    """Indices of `key: value` lines whose value is a plain scalar (not a comment, not a block opener)."""
    out = []
    for i, l in enumerate(lines):
        m = re.match(r"^(\s*-?\s*[\w.]+):\s+([^#\s{\[][^#]*?)\s*(#.*)?$", l)
        if m:
            out.append(i)
    return out


def key_lines(lines):
    return [i for i, l in enumerate(lines) if re.match(r"^\s*-?\s*[\w.]+:", l)]


def random_key_line(lines, rng):
    idx = key_lines(lines)
    return rng.choice(idx) if idx else None


def replace_value(lines, rng, values):
    idx = scalar_lines(lines) or key_lines(lines)
    if not idx:
        return None
    i = rng.choice(idx)
    key = lines[i].split(":", 1)[0]
    lines[i] = f"{key}: {rng.choice(values) if isinstance(values, list) else values(rng)}"
    return lines


def op_delete_line(lines, rng):
    i = random_key_line(lines, rng)
    if i is None:
        return None
    del lines[i]
    return lines


def op_delete_block(lines, rng):
    i = random_key_line(lines, rng)
    if i is None:
        return None
    indent = len(lines[i]) - len(lines[i].lstrip())
    j = i + 1
    while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
        j += 1
    del lines[i:j]
    return lines


def op_duplicate_key(lines, rng):
    i = random_key_line(lines, rng)
    if i is None:
        return None
    lines.insert(i + 1, lines[i])
    return lines


def op_rename_key(lines, rng):
    i = random_key_line(lines, rng)
    if i is None:
        return None
    key, rest = lines[i].split(":", 1)
    name = key.strip().lstrip("-").strip()
    new = rng.choice([name + "x", name[:-1], name.upper(), name + "σ", "", name.replace("_", "-"), "<<"])
    lines[i] = key.replace(name, new, 1) + ":" + rest
    return lines


def op_wrong_type(lines, rng):
    return replace_value(lines, rng, WRONG_TYPES)


def op_extreme_number(lines, rng):
    return replace_value(lines, rng, EXTREME_NUMBERS)


def op_unicode(lines, rng):
    if rng.random() < 0.5:
        return replace_value(lines, rng, [f'"{u}"' for u in UNICODE] + UNICODE[:3])
    i = random_key_line(lines, rng)
    if i is None:
        return None
    lines[i] = lines[i].replace(":", rng.choice(UNICODE[:3]) + ":", 1)
    return lines


def op_long_string(lines, rng):
    return replace_value(lines, rng, lambda r: "x" * r.choice([4096, 200_000, 3_000_000]))


def op_deep_nesting(lines, rng):
    def nest(r):
        n = r.choice([100, 5_000, 100_000])
        return "[" * n + "]" * n if r.random() < 0.5 else "{a: " * n + "1" + "}" * n
    return replace_value(lines, rng, nest)


def op_alias_bomb(lines, rng):
    """A billion-laughs value: ten levels of ten aliases to the level below (10^10 leaves if expanded)."""
    levels = ["&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for k in range(1, 10):
        levels.append(f"&l{k} [" + ", ".join([f"*l{k - 1}"] * 10) + "]")
    bomb = "[" + ", ".join(levels) + "]"
    if rng.random() < 0.5:
        return replace_value(lines, rng, [bomb])
    lines.append(f"sweep: {{bomb: {bomb}}}")
    return lines


def op_alias_misuse(lines, rng):
    return replace_value(lines, rng, ["*undefined", "&a", "&a *a", "<<: *x", "!!python/object:os.system"])


def op_include_cycle(lines, rng):
    lines.insert(0, rng.choice(["include: SELF", "include: [SELF, SELF]", "include: OTHER", "include: /dev/zero",
                                "include: /nonexistent.yaml", "include: .", "include: ''"]))
    return lines


def op_binary_garbage(lines, rng):
    text = "\n".join(lines).encode()
    pos = rng.randrange(len(text) + 1)
    junk = bytes(rng.randrange(256) for _ in range(rng.choice([1, 8, 64, 4096])))
    return text[:pos] + junk + text[pos:]


def op_truncate(lines, rng):
    text = "\n".join(lines).encode()
    return text[: rng.randrange(len(text) + 1)]


def op_tab_indent(lines, rng):
    idx = [i for i, l in enumerate(lines) if l.startswith(" ")]
    if not idx:
        return None
    i = rng.choice(idx)
    lines[i] = "\t" + lines[i].lstrip()
    return lines


def op_swap_lines(lines, rng):
    if len(lines) < 2:
        return None
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return lines


def op_whole_file(lines, rng):
    return rng.choice([b"", b"# only a comment\n", b"\x00" * 100, b"---\n---\n", b"[1, 2, 3]\n", b"just text\n",
                       b"a: 1\na: 2\n", b"\xff\xfe\x00\x00", "name: σ\nstages: {}\n".encode(), b"stages:\n"])


OPERATORS = {f.__name__[3:]: f for f in [
    op_delete_line, op_delete_block, op_duplicate_key, op_rename_key, op_wrong_type, op_extreme_number,
    op_unicode, op_long_string, op_deep_nesting, op_alias_bomb, op_alias_misuse, op_include_cycle,
    op_binary_garbage, op_truncate, op_tab_indent, op_swap_lines, op_whole_file]}

# ---------------------------------------------------------------- targets: which command reads which config
SAMPLE_CONFIGS = {"amed_toy_sample.yaml", "sample_gmm.yaml", "sample_fashion_unet.yaml"}


def command(config, spec, work):
    cache = os.path.join(work, "cache")
    if config == "amed_toy_teacher.yaml":
        return ["teacher", spec, "--cache-dir", cache, "--dry-run"], False
    if config == "amed_toy_train.yaml":
        return ["train-amed", spec, "--quiet"], True
    if config in SAMPLE_CONFIGS:
        # Four seeds: the shipped UNet config samples 64 through a CPU UNet (minutes).
        return ["sample", spec, "--cache-dir", cache, "--set", "reference=none", "--set", "latents.seeds=0-3"], True
    return ["run", spec, "--dry-run", "--cache-dir", cache, "--runs-dir", os.path.join(work, "runs_dir")], False


def targets():
    """(config whose text is mutated, spec that dsx is given) pairs: every spec, and the shared include
    through the quickstart that includes it."""
    specs = sorted(f for f in os.listdir(CONFIGS) if f.endswith(".yaml"))
    return [(s, s) for s in specs] + [(os.path.join("common", c), "quickstart.yaml")
                                      for c in sorted(os.listdir(os.path.join(CONFIGS, "common")))]


def private_tree(work):
    """work/configs mirrors configs/ (a real copy: mutations stay private), work/models and work/data
    point at the project's, work/runs receives the outputs of sample configs."""
    shutil.copytree(CONFIGS, os.path.join(work, "configs"))
    for d in ("models", "data"):
        if os.path.isdir(os.path.join(ROOT, d)):
            os.symlink(os.path.join(ROOT, d), os.path.join(work, d))
    os.makedirs(os.path.join(work, "runs"))


def files_under(path):
    out = []
    for dirpath, _, files in os.walk(path):
        out += [os.path.join(dirpath, f) for f in files]
    return out


def run_one(dsx, case, timeout, keep=False):
    n, target, spec_name, op_name, seed = case
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="dsx-fuzz-")
    args = []
    try:
        private_tree(work)
        path = os.path.join(work, "configs", target)
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        mutated = None
        for _ in range(10):  # an operator may not apply to a given text; draw again
            mutated = OPERATORS[op_name](list(lines), rng)
            if mutated is not None:
                break
        if mutated is None:
            return n, target, op_name, "skipped", ""
        data = mutated if isinstance(mutated, bytes) else "\n".join(mutated).encode("utf-8", "surrogatepass")
        data = data.replace(b"SELF", os.path.basename(path).encode()).replace(b"OTHER", b"other.yaml")
        with open(path, "wb") as f:
            f.write(data)
        with open(os.path.join(os.path.dirname(path), "other.yaml"), "w") as f:
            f.write(f"include: {os.path.basename(path)}\n")
        args, real = command(os.path.basename(spec_name), os.path.join(work, "configs", spec_name), work)
        try:
            p = subprocess.run([dsx] + args, cwd=work, capture_output=True, timeout=timeout,
                               env=dict(os.environ, DSX_CACHE_DIR=os.path.join(work, "cache")))
        except subprocess.TimeoutExpired:
            return n, target, op_name, "long_job" if real else "hang", " ".join(args)
        err = p.stderr.decode("utf-8", "replace")
        written = files_under(os.path.join(work, "cache")) + files_under(os.path.join(work, "runs_dir"))
        if p.returncode != 0 or not real:
            written += files_under(os.path.join(work, "runs"))
        if p.returncode == 0:
            outcome = "ok"
        elif p.returncode == 2:
            outcome = "user_error" if LOCATION.search(err) else "unlocated_error"
        elif p.returncode == 3:
            outcome = "internal_error"
        elif p.returncode < 0:
            outcome = f"crash(signal {-p.returncode})"
        else:
            outcome = f"exit {p.returncode}"
        if written and outcome in ("ok", "user_error"):
            outcome = "leftover_files"
            err += "\nleft: " + ", ".join(os.path.relpath(w, work) for w in written[:5])
        last = [l for l in err.strip().split("\n") if l.strip()][-3:]
        return n, target, op_name, outcome, " | ".join(last)[:400]
    finally:
        if keep:
            print(f"case #{n}: kept {work} ({' '.join([dsx] + args)})", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsx", required=True)
    ap.add_argument("--count", type=int, default=160, help="mutations in all (spread over configs and operators)")
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per run (the time box)")
    ap.add_argument("--show", type=int, default=20, help="findings printed in full")
    ap.add_argument("--only", type=int, help="rerun case N alone and keep its folder (to reproduce a finding)")
    a = ap.parse_args()
    dsx = os.path.abspath(a.dsx)
    rng = random.Random(a.seed)
    pairs, ops = targets(), sorted(OPERATORS)
    # Round-robin over (target, operator) so every config meets every operator before any repeats.
    grid = [(t, o) for t in pairs for o in ops]
    rng.shuffle(grid)
    cases = [(n, grid[n % len(grid)][0][0], grid[n % len(grid)][0][1], grid[n % len(grid)][1], rng.randrange(1 << 62))
             for n in range(a.count)]
    if a.only is not None:
        print(run_one(dsx, cases[a.only], a.timeout, keep=True))
        return 0
    results = []
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        for r in pool.map(lambda c: run_one(dsx, c, a.timeout), cases):
            results.append(r)
            if len(results) % 50 == 0:
                print(f"spec_fuzz: {len(results)}/{a.count}", file=sys.stderr, flush=True)
    good = {"ok", "user_error", "skipped", "long_job"}
    table = collections.defaultdict(collections.Counter)
    for _, _, op, outcome, _ in results:
        table[op][outcome] += 1
    classes = sorted({o for c in table.values() for o in c})
    print(f"{'operator':<16}" + "".join(f"{c:>16}" for c in classes))
    for op in ops:
        print(f"{op:<16}" + "".join(f"{table[op][c]:>16}" for c in classes))
    total = collections.Counter(o for _, _, _, o, _ in results)
    print("total: " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())) + f" (of {len(results)})")
    findings = [r for r in results if r[3] not in good]
    for n, target, op, outcome, msg in findings[: a.show]:
        print(f"FINDING #{n} {target} {op}: {outcome}: {msg}")
    print(f"spec_fuzz: {len(findings)} finding(s) in {len(results)} mutations (seed {a.seed})")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
