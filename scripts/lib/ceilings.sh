# Sourced by the bench scripts: what the machine alone sustains, in MB/s,
# to set object-server and proxy throughput against.

# dd_mbps IN DIR [STREAMS]: STREAMS copies of file IN written into DIR at
# once by dd (1 MiB blocks, fsync before dd exits); prints the aggregate
# MB/s, all bytes over the wall time (dd's own figure carries a unit that
# changes with the speed, so it is not used).
dd_mbps() {
  local in=$1 dir=$2 n=${3:-1} pids=() t0 t1 i
  t0=$(date +%s.%N)
  for i in $(seq "$n"); do
    dd if="$in" of="$dir/ddtest$i" bs=1M conv=fsync 2>/dev/null & pids+=($!)
  done
  wait "${pids[@]}"
  t1=$(date +%s.%N)
  for i in $(seq "$n"); do rm -f "$dir/ddtest$i"; done
  awk -v b="$(( n * $(stat -c %s "$in") ))" -v a="$t0" -v z="$t1" 'BEGIN {printf "%.0f\n", b / (z - a) / 1e6}'
}

# md5_mbps FILE: MD5 over FILE's bytes on one core, best of 3: prints
# "OURS OPENSSL" (the object server's MD5, the md-5 crate, and OpenSSL
# through Python's hashlib). Every PUT computes its body's ETag,
# so a single stream cannot go faster than its hasher.
md5_mbps() {
  local ours
  cargo build --release --example md5_speed >/dev/null 2>&1
  ours=$(target/release/examples/md5_speed "$1" 3)
  python3 - "$1" "$ours" <<'PY'
import hashlib, sys, time
data = open(sys.argv[1], "rb").read()
best = float("inf")
for _ in range(3):
    t = time.perf_counter()
    h = hashlib.md5()
    for i in range(0, len(data), 1 << 20):
        h.update(data[i:i + (1 << 20)])
    h.digest()
    best = min(best, time.perf_counter() - t)
print(sys.argv[2], round(len(data) / best / 1e6))
PY
}

# small_put_ops DIR SECONDS THREADS [linkat|rename]: objects/s the disk
# sustains for the object server's disk work on a new small object, on
# THREADS threads at once, with no HTTP: the same storage calls a 4 KiB PUT
# makes (object directory made, file written, metadata xattr, fsync, suffix
# marked in hashes.invalid, file named, object directory and the parent of
# each directory made synced). linkat (default): the file is written
# unnamed (O_TMPFILE) in its object directory and linked into place, as the
# server does where the filesystem allows; rename: written in tmp/ and
# renamed, the fallback. The ceiling of a 4 KiB PUT at that concurrency.
# DIR is scratch.
small_put_ops() {
  cargo build --release --example durable_put >/dev/null 2>&1
  target/release/examples/durable_put "$1" "$2" "$3" 4096 "${4:-linkat}"
  rm -rf "$1"
}

# median: the middle of the numbers on stdin, one a line.
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# direct_put_mbps FILE SECONDS CLIENTS BASE_PORT: what the all-in-one
# cluster's object servers take with no proxy in front: CLIENTS clients,
# each sending FILE to three object servers at once (as a proxy fans out a
# 3-replica PUT) and waiting for all three before its next object, for
# SECONDS. Node N serves device sdN on port BASE_PORT + 10 N; object K goes
# to the three nodes after node K mod 4, as the ring spreads partitions.
# Prints the MB/s of client data stored (each byte is written three times),
# counting only the copies an object server acknowledged with 201.
direct_put_mbps() {
  local file=$1 secs=$2 clients=$3 base=$4 pids=() c t0 t1 count dir
  dir=$(mktemp -d)
  t0=$(date +%s.%N)
  for c in $(seq "$clients"); do
    (
      local k=0 n r end
      end=$(awk -v a="$t0" -v s="$secs" 'BEGIN {printf "%.0f", a + s}')
      while [ "$(date +%s)" -lt "$end" ]; do
        k=$((k + 1))
        for r in 0 1 2; do
          n=$(( (k + c + r) % 4 + 1 ))
          curl -s -o /dev/null -w '%{http_code}\n' -X PUT -T "$file" \
            -H "X-Timestamp: $(date +%s.%N | cut -c1-16)" -H 'Content-Type: application/octet-stream' \
            "http://127.0.0.1:$((base + 10 * n))/sd$n/0/AUTH_direct/c/o-$c-$k" >>"$dir/$c" &
        done
        wait
      done
    ) & pids+=($!)
  done
  wait "${pids[@]}"
  t1=$(date +%s.%N)
  count=$(cat "$dir"/* | awk '$1 == 201 {s++} END {print s / 3}')
  rm -rf "$dir"
  awk -v b="$(awk -v n="$count" -v s="$(stat -c %s "$file")" 'BEGIN {print n * s}')" -v a="$t0" -v z="$t1" 'BEGIN {printf "%.0f\n", b / (z - a) / 1e6}'
}
