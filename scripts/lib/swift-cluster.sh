# Sourced by bench-proxy: a whole Swift cluster (Swift's proxy and Swift's
# account, container and object servers, one worker each) on the layout
# swift-all-in-one writes, so Swift's cluster and ours are compared on the
# same rings, devices and configs. Needs WORK, PIDS and VENV from the caller.

# start_swift_cluster DIR PROXY_PORT BASE_PORT MEMCACHED_PORT: sets up DIR
# with our builder (--setup-only), starts Swift's 12 storage servers and its
# proxy there, and waits for all of them.
start_swift_cluster() {
  local dir=$1 conf kind copy port
  target/release/swift-all-in-one --dir "$dir" --port "$2" --base-port "$3" --setup-only >/dev/null
  # Swift's servers run as this user (they would switch to a `swift` user
  # otherwise) and log warnings only.
  for conf in "$dir"/etc/{account,container,object}-server/*.conf "$dir/etc/proxy-server.conf"; do
    sed -i "s/^\[DEFAULT\]$/&\nuser = $(id -un)\nlog_level = WARNING/" "$conf"
  done
  sed -i "s/^use = egg:swift#memcache$/&\nmemcache_servers = 127.0.0.1:$4/" "$dir/etc/proxy-server.conf"
  for kind in account container object; do
    for conf in "$dir/etc/$kind-server"/*.conf; do
      "$VENV/bin/swift-$kind-server" "$conf" >>"$WORK/swift-cluster.log" 2>&1 & PIDS+=($!)
    done
  done
  "$VENV/bin/swift-proxy-server" "$dir/etc/proxy-server.conf" >>"$WORK/swift-cluster.log" 2>&1 & PIDS+=($!)
  for conf in "$dir"/etc/{account,container,object}-server/*.conf "$dir/etc/proxy-server.conf"; do
    port=$(awk -F' *= *' '$1 == "bind_port" {print $2; exit}' "$conf")
    wait_up "$port" "Swift's server of $conf" "$WORK/swift-cluster.log"
  done
}
