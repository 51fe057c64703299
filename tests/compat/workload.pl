#!/usr/bin/perl
# perl workload for the malloc-x compat tests: hashes, regular expressions, sort, string
# building, closures and references, all with deterministic output (hash keys are always
# sorted before printing; the pseudo-random numbers come from a fixed LCG, not rand).
#   perl workload.pl [SCALE]
use strict;
use warnings;
no warnings "recursion";   # the memoized fib recurses 5,000 deep on purpose

my $scale = shift // 1;
my $n = 200_000 * $scale;

my $seed = 12345;
sub lcg { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed; }

my @words = qw(alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi
               omicron pi rho sigma tau upsilon phi chi psi omega);

# 1. A big hash of hashes of arrays, grown and then half deleted.
my %h;
for my $i (1 .. $n) {
    my $w = $words[lcg() % @words];
    my $key = sprintf("%s-%05d", $w, lcg() % 50_000);
    my $rec = $h{$key} //= { count => 0, vals => [] };
    $rec->{count}++;
    push @{ $rec->{vals} }, $i % 1000;
}
my ($total, $maxc) = (0, 0);
for my $k (keys %h) {
    $total += $h{$k}{count};
    $maxc = $h{$k}{count} if $h{$k}{count} > $maxc;
}
printf "hash: %d keys, %d entries, max count %d\n", scalar(keys %h), $total, $maxc;
my @sorted_keys = sort keys %h;
delete @h{ @sorted_keys[ grep { $_ % 2 } 0 .. $#sorted_keys ] };
printf "after delete: %d keys, first %s, last %s\n", scalar(keys %h), (sort keys %h)[0, -1];

# 2. String building: a large string built by appends, then split and rejoined.
my $s = '';
for my $i (1 .. $n / 2) {
    $s .= $words[$i % @words] . ($i % 7 ? ' ' : "\n");
}
my @lines = split /\n/, $s;
my %wc;
$wc{$_}++ for split /\s+/, $s;
printf "string: %d bytes, %d lines, %d distinct words, omega=%d\n",
    length($s), scalar(@lines), scalar(keys %wc), $wc{omega};
my $rev = join "\n", map { scalar reverse $_ } @lines;
printf "reversed: %d bytes, line 1000: %s\n", length($rev), (split /\n/, $rev)[999];

# 3. Regular expressions: captures, substitutions with /e, global matches.
my $text = join ' ', map { sprintf("id=%d name=%s-%x;", $_, $words[$_ % @words], $_ * 7919) }
    1 .. $n / 4;
my $ids = 0;
my $sum = 0;
while ($text =~ /id=(\d+) name=(\w+)-([0-9a-f]+);/g) {
    $ids++;
    $sum += hex($3) % 1000 if $2 eq 'sigma';
}
(my $t2 = $text) =~ s/name=(\w+)-([0-9a-f]+)/"N=" . uc($1) . length($2)/ge;
my @caps = ($t2 =~ /N=([A-Z]+\d)/g);
my %capc;
$capc{$_}++ for @caps;
printf "regex: %d ids, sigma sum %d, %d bytes after s///e, %d distinct captures, PI5=%d\n",
    $ids, $sum, length($t2), scalar(keys %capc), $capc{PI5} // 0;

# 4. Sorting: numbers, strings, Schwartzian transform, stable multi-key sort.
my @nums = map { lcg() % 1_000_000 } 1 .. $n;
my @sn = sort { $a <=> $b } @nums;
printf "sort: min %d, median %d, max %d\n", $sn[0], $sn[@sn / 2], $sn[-1];
my @recs = map { [ $words[lcg() % @words], lcg() % 100, $_ ] } 1 .. $n / 2;
my @ordered = sort { $a->[0] cmp $b->[0] or $b->[1] <=> $a->[1] or $a->[2] <=> $b->[2] } @recs;
printf "multi-key: first [%s] last [%s]\n", join(',', @{ $ordered[0] }),
    join(',', @{ $ordered[-1] });
my @st = map { $_->[1] } sort { $a->[0] <=> $b->[0] or $a->[1] cmp $b->[1] }
    map { [ length($_), $_ ] } keys %wc, @sorted_keys[0 .. 999];
printf "schwartzian: %s .. %s\n", $st[0], $st[-1];

# 5. Closures and references: counters, a memoized recursive function, a tree of refs.
my @counters = map { my $c = $_; sub { $c += shift } } 1 .. 1000;
my $acc = 0;
for my $round (1 .. 50) {
    $acc += $_->($round) for @counters;
}
my %memo;
my $fib;
$fib = sub { my $k = shift; return $memo{$k} //= $k < 2 ? $k : ($fib->($k - 1) + $fib->($k - 2)) % 1_000_000_007 };
printf "closures: acc %d, fib(5000) mod p %d\n", $acc, $fib->(5000);
undef $fib;

sub build { my $d = shift; return $d == 0 ? { leaf => $d } : { l => build($d - 1), r => build($d - 1), d => $d } }
sub count_nodes { my $t = shift; return 1 + ($t->{l} ? count_nodes($t->{l}) + count_nodes($t->{r}) : 0) }
my $tree_total = 0;
for (1 .. 4) { my $t = build(15); $tree_total += count_nodes($t); }
printf "trees: %d nodes\n", $tree_total;

# 6. pack/unpack and sprintf on many small buffers; a checksum of everything.
my $buf = '';
$buf .= pack("NnC/a*", $_, $_ % 65536, "w$_") for 1 .. $n / 4;
my $chk = unpack("%32C*", $buf);
printf "pack: %d bytes, checksum %d\n", length($buf), $chk;
