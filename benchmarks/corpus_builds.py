"""The corpus's programs that no Debian package ships: a static Go program
(Go's own runtime: many threads, SIGURG preemption, raw system calls, none
through glibc) and a C++ program (libstdc++: iostreams, exceptions,
std::thread), built on first use into a cache directory."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

GO = r"""
// Counts the words of stdin on several goroutines and prints them sorted
// with a digest: real work on many threads of a static binary.
package main

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
)

func main() {
	var lines []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	counts := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := i; j < len(lines); j += 4 {
				for _, w := range strings.Fields(lines[j]) {
					mu.Lock()
					counts[w]++
					mu.Unlock()
				}
			}
		}(i)
	}
	wg.Wait()
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Printf("%-8s %d\n", k, counts[k])
		fmt.Fprintf(h, "%s=%d;", k, counts[k])
	}
	fmt.Printf("%x\n", h.Sum(nil))
	if _, err := os.Stat("missing/file"); err != nil {
		fmt.Fprintln(os.Stderr, "stat:", err)
		os.Exit(3)
	}
}
"""

CXX = r"""
// Reads a file into a map, sorts, throws and catches, and sums on threads:
// libstdc++'s streams, exceptions and std::thread.
#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char **argv)
{
    std::ifstream in(argv[1]);
    std::map<std::string, int> words;
    for (std::string w; in >> w;)
        ++words[w];
    std::vector<std::pair<std::string, int>> v(words.begin(), words.end());
    std::stable_sort(v.begin(), v.end(), [](auto &a, auto &b) { return a.second > b.second; });
    for (auto &[w, n] : v)
        std::cout << std::setw(8) << std::left << w << n << '\n';
    std::vector<long> part(4);
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; i++)
        ts.emplace_back([&part, i] { for (long j = i; j < 1000000; j += 4) part[i] += j; });
    for (auto &t : ts)
        t.join();
    std::cout << std::accumulate(part.begin(), part.end(), 0L) << '\n';
    try {
        std::ifstream missing("missing/file");
        missing.exceptions(std::ifstream::failbit);
        std::string s;
        missing >> s;
    } catch (const std::exception &e) {
        std::cerr << "caught " << (dynamic_cast<const std::ios_base::failure *>(&e) ? "failure" : "?")
                  << '\n';
        return 4;
    }
    return 0;
}
"""

SOURCES = {"go": ("main.go", GO), "cxx": ("main.cc", CXX)}


class BuildMissing(Exception):
    """The compiler a built program needs is not installed."""


def build(kind: str, cache_dir: str) -> str:
    """The path of program `kind` built into cache_dir (once per source)."""
    name, src = SOURCES[kind]
    out = os.path.join(cache_dir, f"{kind}-{hashlib.sha256(src.encode()).hexdigest()[:12]}")
    if os.path.exists(out):
        return out
    work = out + ".build"
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, name), "w") as f:
        f.write(src)
    if kind == "go":
        tool = shutil.which("go")
        argv = [tool, "build", "-o", out + ".tmp", name]
        env = dict(os.environ, CGO_ENABLED="0", GOCACHE=os.path.join(work, "cache"),
                   GOPATH=os.path.join(work, "path"), GO111MODULE="off")
    else:
        tool = shutil.which("g++")
        argv = [tool, "-O1", "-std=c++17", "-pthread", "-o", out + ".tmp", name]
        env = None
    if tool is None:
        raise BuildMissing(f"{kind}: {'golang-go' if kind == 'go' else 'g++'} is not installed")
    subprocess.run(argv, cwd=work, env=env, check=True, timeout=600, capture_output=True)
    os.rename(out + ".tmp", out)
    shutil.rmtree(work, ignore_errors=True)
    return out
