#!/bin/sh
# C++ for the malloc-x compat tests: generates an STL-heavy C++ file (a fixed core plus many
# generated record types, each instantiating std::map, std::unordered_map, std::vector,
# std::string and std::shared_ptr code), compiles it with g++ -O2 (cc1plus is a heavy
# allocator), runs the program (four std::threads building, merging and sorting containers,
# and operator new/delete in every thread) and prints its output.  Run it in an empty
# directory; under run_compare.sh g++, cc1plus, as, ld and the program all run on malloc-x.
#   cxx_workload.sh [CXX] [TYPES]
set -eu
cxx=${1:-g++}
ntypes=${2:-40}

cat >core.hpp <<'CORE'
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

static inline std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33; return x;
}

// Per-thread work: containers of strings, built, queried, erased and sorted.
struct Tally {
    std::map<std::string, std::uint64_t> counts;
    std::uint64_t checksum = 0;
};

static Tally work(unsigned id, unsigned n) {
    Tally t;
    std::unordered_map<std::uint64_t, std::vector<std::string>> buckets;
    std::vector<std::shared_ptr<std::string>> owned;
    for (unsigned i = 0; i < n; i++) {
        std::uint64_t h = mix(id * 1000003ULL + i);
        std::string s = "w" + std::to_string(h % 5000) + "-" + std::string(1 + h % 40, char('a' + h % 26));
        buckets[h % 997].push_back(s);
        t.counts[s.substr(0, s.find('-'))]++;
        if (h % 3 == 0) owned.push_back(std::make_shared<std::string>(s + s));
        if (owned.size() > 2000) owned.erase(owned.begin(), owned.begin() + 1000);
    }
    std::vector<std::string> all;
    for (auto &b : buckets) all.insert(all.end(), b.second.begin(), b.second.end());
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    for (auto &s : all) t.checksum = mix(t.checksum ^ std::hash<std::string>{}(s));
    for (auto &p : owned) t.checksum += p->size();
    return t;
}
CORE

awk -v N="$ntypes" 'BEGIN {
    print "#include \"core.hpp\""
    for (i = 0; i < N; i++) {
        printf "struct Rec%d { std::string name; std::vector<int> vals; std::map<int, std::string> tags; int key = %d; };\n", i, i
        printf "static std::uint64_t run_rec%d(unsigned n) {\n", i
        printf "    std::map<std::string, Rec%d> by_name; std::unordered_map<int, std::shared_ptr<Rec%d>> by_id;\n", i, i
        printf "    std::set<std::pair<int, std::string>> order;\n"
        printf "    for (unsigned j = 0; j < n; j++) {\n"
        printf "        Rec%d r; r.name = \"r%d-\" + std::to_string((j * %d) %% 1000);\n", i, i, 7 + 2 * i
        printf "        for (unsigned k = 0; k < 1 + j %% %d; k++) r.vals.push_back(int(mix(j * 31 + k) %% 1000));\n", 5 + i % 11
        printf "        r.tags[int(j %% 17)] = r.name + \"/tag\";\n"
        printf "        order.emplace(int(r.vals.size()), r.name);\n"
        printf "        by_id[int(j)] = std::make_shared<Rec%d>(r);\n", i
        printf "        by_name[r.name] = std::move(r);\n"
        printf "    }\n"
        printf "    std::uint64_t acc = by_name.size() * 1000003ULL + order.size();\n"
        printf "    for (auto &kv : by_name) acc = mix(acc ^ std::accumulate(kv.second.vals.begin(), kv.second.vals.end(), 0ULL) ^ kv.second.tags.size());\n"
        printf "    std::ostringstream os; for (auto &p : order) if (p.first > %d) os << p.second << \";\";\n", 3 + i % 5
        printf "    return acc ^ std::hash<std::string>{}(os.str()) ^ by_id.size();\n"
        printf "}\n"
    }
    print "int main() {"
    print "    std::vector<Tally> results(4);"
    print "    std::vector<std::thread> threads;"
    print "    for (unsigned t = 0; t < 4; t++) threads.emplace_back([t, &results] { results[t] = work(t, 150000); });"
    print "    for (auto &th : threads) th.join();"
    print "    std::map<std::string, std::uint64_t> merged; std::uint64_t sum = 0;"
    print "    for (auto &r : results) { for (auto &kv : r.counts) merged[kv.first] += kv.second; sum ^= r.checksum; }"
    print "    std::printf(\"threads: %zu distinct keys, checksum %016llx\\n\", merged.size(), (unsigned long long)sum);"
    print "    std::vector<std::pair<std::uint64_t, std::string>> top;"
    print "    for (auto &kv : merged) top.emplace_back(kv.second, kv.first);"
    print "    std::sort(top.begin(), top.end(), std::greater<>());"
    print "    for (int k = 0; k < 5; k++) std::printf(\"  %s %llu\\n\", top[k].second.c_str(), (unsigned long long)top[k].first);"
    print "    std::mutex m; std::vector<std::uint64_t> recs(" N ");"
    print "    std::vector<std::thread> pool;"
    print "    for (unsigned t = 0; t < 2; t++) pool.emplace_back([t, &recs, &m] {"
    print "        for (unsigned i = t; i < recs.size(); i += 2) {"
    print "            std::uint64_t v = 0;"
    print "            switch (i) {"
    for (i = 0; i < N; i++) printf "            case %d: v = run_rec%d(%d); break;\n", i, i, 2000 + 37 * i
    print "            }"
    print "            std::lock_guard<std::mutex> g(m); recs[i] = v;"
    print "        }"
    print "    });"
    print "    for (auto &th : pool) th.join();"
    print "    for (unsigned i = 0; i < recs.size(); i++) std::printf(\"rec%u %016llx\\n\", i, (unsigned long long)recs[i]);"
    print "    return 0;"
    print "}"
}' >prog.cpp

echo "source: $(wc -l <prog.cpp) lines"
"$cxx" -O2 -std=c++17 -pthread -o prog prog.cpp
./prog
