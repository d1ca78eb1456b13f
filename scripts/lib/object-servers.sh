# Sourced by the object-server bench scripts: starts our object server and
# Swift's side by side, each with one worker and its own device directory,
# under $WORK (set by the caller, which also owns PIDS and the cleanup).

# object_server_conf NAME PORT: writes $WORK/NAME.conf serving $WORK/NAME/sda1.
object_server_conf() {
  mkdir -p "$WORK/$1/sda1" "$WORK/etc"
  [ -f "$WORK/etc/swift.conf" ] ||
    printf '[swift-hash]\nswift_hash_path_suffix = bench\n\n[storage-policy:0]\nname = gold\ndefault = yes\n' > "$WORK/etc/swift.conf"
  cat > "$WORK/$1.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $2
devices = $WORK/$1
mount_check = false
user = $(id -un)
workers = 1
swift_dir = $WORK/etc
log_level = WARNING

[pipeline:main]
pipeline = healthcheck object-server

[app:object-server]
use = egg:swift#object

[filter:healthcheck]
use = egg:swift#healthcheck
CONF
}

# wait_up PORT: waits up to 10 s for a server's healthcheck.
wait_up() {
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$1/healthcheck" >/dev/null && return
    sleep 0.1
  done
  echo "server on $1 did not start" >&2
  exit 1
}

# start_object_servers OURS_PORT SWIFT_PORT VENV: ours serves $WORK/ours,
# Swift's $WORK/swift; both are up when this returns.
start_object_servers() {
  object_server_conf ours "$1"
  object_server_conf swift "$2"
  target/release/swift-object-server "$WORK/ours.conf" 2>"$WORK/ours.log" & PIDS+=($!)
  "$3/bin/swift-object-server" "$WORK/swift.conf" >"$WORK/swift.log" 2>&1 & PIDS+=($!)
  wait_up "$1"
  wait_up "$2"
}
