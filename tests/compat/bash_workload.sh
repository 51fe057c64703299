#!/bin/bash
# bash for the malloc-x compat tests: a script whose work is the shell's own allocation:
# indexed arrays of 100,000 elements, associative arrays, string slicing and substitution,
# command substitution, functions with local variables and a subshell per item of a loop.
# Output is deterministic (associative keys are sorted before printing).
#   bash bash_workload.sh [N]
set -euo pipefail   # hence no `head` in pipelines: its writer would die of SIGPIPE
n=${1:-100000}
export LC_ALL=C

# Indexed arrays: fill, read back, grow by concatenation, unset half, compact.
declare -a a
for ((i = 0; i < n; i++)); do
    a[i]="item-$((i * 7919 % n))-$((i % 97))"
done
echo "array: ${#a[@]} elements, a[0]=${a[0]}, a[n-1]=${a[n - 1]}"
b=("${a[@]}" "${a[@]:0:n/2}")
echo "concatenated: ${#b[@]} elements"
for ((i = 0; i < ${#b[@]}; i += 2)); do unset 'b[i]'; done
b=("${b[@]}")
echo "after unset and compaction: ${#b[@]} elements, b[12345]=${b[12345]}"

# Associative arrays: word counts, then keys removed by pattern.
declare -A count
for ((i = 0; i < n; i++)); do
    k="key$((i * 31 % 20011))"
    count[$k]=$(( ${count[$k]:-0} + 1 ))
done
echo "assoc: ${#count[@]} keys"
sum=0
for k in "${!count[@]}"; do sum=$((sum + count[$k])); done
echo "assoc sum: $sum"
for k in "${!count[@]}"; do
    [[ $k == *7 ]] && unset "count[$k]"
done
printf '%s\n' "${!count[@]}" | sort | sha256sum | sed 's/ .*//;s/^/assoc keys after unset: sha256 /'
printf '%s\n' "${!count[@]}" | sort | awk 'NR <= 3' | tr '\n' ' '; echo

# Strings: a long string built by appends, pattern substitution, slicing, case changes.
s=""
for ((i = 0; i < n / 4; i++)); do s+="w$((i % 113)),"; done
echo "string: ${#s} chars"
t=${s//w1/W-one-}
echo "substituted: ${#t} chars, slice [${t:1000:40}]"
u=${t^^}
v=${u,,}
echo "case round trip: ${#v} chars, equal to the lowercased substitution: $([[ $v == "${t,,}" ]] && echo yes || echo no)"
IFS=, read -r -a parts <<<"$s"
echo "split: ${#parts[@]} parts, last ${parts[${#parts[@]} - 1]}"
joined=$(IFS=:; echo "${parts[*]:0:20000}")
echo "joined: ${#joined} chars"

# Command substitution and functions with locals, recursion and subshells.
fmt() { local x=$1 y; printf -v y '%06d' "$x"; echo "$y"; }
acc=0
for ((i = 0; i < 2000; i++)); do
    r=$(fmt $((i * 37 % 100000)))
    acc=$((acc + 10#$r))
done
echo "command substitution: acc $acc"
fib() { local k=$1; if ((k < 2)); then echo "$k"; else echo $(( $(fib $((k - 1))) + $(fib $((k - 2))) )); fi; }
echo "fib 13 by subshells: $(fib 13)"
words=()
while read -r w; do words+=("$w"); done < <(for ((i = 0; i < 20000; i++)); do echo "line$((i * i % 1009))"; done)
echo "process substitution: ${#words[@]} words, unique $(printf '%s\n' "${words[@]}" | sort -u | wc -l)"
mapfile -t m < <(printf '%s\n' "${a[@]}" | sort -t- -k2,2n | awk 'NR <= 50000')
echo "mapfile: ${#m[@]} lines, m[49999]=${m[49999]}"
