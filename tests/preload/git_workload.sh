#!/bin/sh
# git workload for the malloc-x preload tests: builds a repository with many files and commits
# whose identity and dates are fixed (so every hash is deterministic), packs it with git gc,
# and prints log --stat, blame, diffs, grep results and the HEAD hash.  Run it in an empty
# directory.
#   git_workload.sh [GIT] [COMMITS] [FILES]
set -eu
git_bin=${1:-git}
ncommits=${2:-300}
nfiles=${3:-400}
git() { "$git_bin" "$@"; }

# Isolate from the user's and the system's configuration.
HOME=$PWD/home
mkdir -p "$HOME"
export HOME
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="Malloc X" GIT_AUTHOR_EMAIL="mx@example.org"
export GIT_COMMITTER_NAME="Malloc X Bot" GIT_COMMITTER_EMAIL="bot@example.org"
export TZ=UTC LC_ALL=C GIT_PAGER=cat PAGER=cat
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE 2>/dev/null || true

git init -q -b main repo
cd repo
git config gc.auto 0
git config core.autocrlf false
git config pack.threads 2

# The initial tree: nfiles files of 40-200 lines in 20 directories.
awk -v N="$nfiles" 'BEGIN {
    for (f = 0; f < N; f++) {
        dir = sprintf("dir%02d", f % 20)
        system("mkdir -p " dir)
        path = sprintf("%s/file%04d.txt", dir, f)
        lines = 40 + (f * 37) % 160
        for (l = 0; l < lines; l++)
            printf "file %d line %d value %d %s\n", f, l, (f * 7919 + l * 104729) % 1000003, \
                substr("abcdefghijklmnopqrstuvwxyz", 1 + (f + l) % 26, 1 + l % 20) > path
        close(path)
    }
}'
export GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000"
git add -A
git commit -q -m "initial import of $nfiles files"

# Each commit edits a few files (rewrites some lines, appends others), adds or removes one.
c=1
while [ "$c" -le "$ncommits" ]; do
    awk -v C="$c" -v N="$nfiles" 'BEGIN {
        for (k = 0; k < 3; k++) {
            f = (C * 131 + k * 977) % N
            path = sprintf("dir%02d/file%04d.txt", f % 20, f)
            n = 0
            while ((getline line < path) > 0) {
                n++
                if (n % (5 + C % 7) == k) line = line " edited-in-" C
                out[n] = line
            }
            close(path)
            for (i = 1; i <= n; i++) print out[i] > path
            for (i = 0; i < 1 + C % 5; i++) print "commit " C " appended " i " to " f > path
            close(path)
        }
        extra = sprintf("extra/new%04d.txt", C)
        system("mkdir -p extra")
        for (i = 0; i < 10 + C % 30; i++) print "new file of commit " C " line " i > extra
        close(extra)
    }'
    if [ $((c % 10)) -eq 0 ]; then
        git rm -q "extra/new$(printf %04d $((c - 5))).txt"
    fi
    t=$((1700000000 + c * 3600))
    GIT_AUTHOR_DATE="$t +0000" GIT_COMMITTER_DATE="$t +0000"
    git add -A
    git commit -q -m "commit $c: edit three files, add extra/new$(printf %04d "$c").txt"
    if [ $((c % 50)) -eq 0 ]; then
        git tag -a -m "release $c" "v$c"
        git branch "branch-$c"
    fi
    c=$((c + 1))
done

git gc -q --aggressive --prune=now
git fsck --no-progress --strict
git count-objects -v | grep -E '^(count|in-pack|packs|prune-packable|garbage):'

echo "== log --stat (sha256 and last 30 lines)"
git log --stat --format='%H %an %ad %s' --date=iso-strict >log.txt
sha256sum <log.txt
tail -n 30 log.txt
echo "== log -p sha256"
git log -p --format='%H %s' | sha256sum
echo "== blame"
git blame -s --abbrev=12 dir00/file0000.txt | head -n 40
git blame --line-porcelain dir07/file0047.txt | sha256sum
echo "== diff"
git diff --stat v50 HEAD | tail -n 5
git diff v50 v100 | sha256sum
echo "== grep"
git grep -c 'edited-in-1[0-9]' HEAD | head -n 20
echo "== archive"
git archive --format=tar HEAD | sha256sum
echo "== rev-list"
git rev-list --count HEAD
git rev-list --objects --all | sort | sha256sum
git describe --tags
echo "HEAD $(git rev-parse HEAD)"
