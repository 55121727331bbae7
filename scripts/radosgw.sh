#!/usr/bin/env bash
# A one-node Ceph cluster on loopback with one RADOS Gateway: a real S3 server that checks SigV4
# signatures and ACLs, for the Spaces conformance suite. memstore: nothing is kept after `stop`.
#
#   scripts/radosgw.sh start DIR [PORT]   prints RGW_ENDPOINT, RGW_ACCESS_KEY, RGW_SECRET_KEY lines
#   scripts/radosgw.sh stop DIR
#
# Needs Debian's radosgw ceph-mon ceph-osd ceph-common uuid-runtime (see .ci/run).
set -euo pipefail

cmd=${1:?start or stop}
dir=$(realpath -m "${2:?a folder for the cluster}")
port=${3:-7480}

stop() {
  for pidfile in "$dir"/run/*.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 1
  for pidfile in "$dir"/run/*.pid; do
    [ -f "$pidfile" ] || continue
    kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

if [ "$cmd" = stop ]; then
  stop
  exit 0
fi

[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2; }
stop
rm -rf "$dir"
mkdir -p "$dir"/{run,log,mon/ceph-a,osd/ceph-0,rgw}
fsid=$(uuidgen)
conf="$dir/ceph.conf"
cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:3300
mon initial members = a
ms bind msgr1 = false
ms bind ipv6 = false
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
paxos propose interval = 0.05
mon osd prime pg temp = false
mon data = $dir/mon/ceph-\$id
osd data = $dir/osd/ceph-\$id
osd objectstore = memstore
memstore device bytes = 2147483648
[osd]
keyring = $dir/osd/ceph-\$id/keyring
[client.rgw.a]
keyring = $dir/rgw/keyring
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $dir/rgw
rgw dns name = 127.0.0.1
rgw enable usage log = false
CONF

ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
monmaptool --create --addv a "[v2:127.0.0.1:3300]" --fsid "$fsid" "$dir/monmap" >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
ceph-mon -c "$conf" -i a

ceph -c "$conf" osd create >/dev/null
ceph-osd -c "$conf" -i 0 --mkfs --mkkey --no-mon-config --osd-uuid "$(uuidgen)" 2>>"$dir/log/mkfs.log"
ceph -c "$conf" auth add osd.0 osd 'allow *' mon 'allow profile osd' -i "$dir/osd/ceph-0/keyring" >/dev/null 2>&1
ceph -c "$conf" osd crush add-bucket localhost host >/dev/null 2>&1
ceph -c "$conf" osd crush move localhost root=default >/dev/null 2>&1
ceph -c "$conf" osd crush add osd.0 1.0 host=localhost >/dev/null 2>&1
ceph-osd -c "$conf" -i 0

ceph -c "$conf" auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' -o "$dir/rgw/keyring" 2>/dev/null
radosgw -c "$conf" -n client.rgw.a

access="RGW$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"
secret="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
for _ in $(seq 1 60); do
  if radosgw-admin -c "$conf" user create --uid=conformance --display-name=conformance \
    --access-key="$access" --secret-key="$secret" >/dev/null 2>&1; then
    break
  fi
  sleep 0.5
done
for _ in $(seq 1 60); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.5
done
curl -s -o /dev/null "http://127.0.0.1:$port/" || { echo "radosgw did not answer on port $port; logs in $dir/log" >&2; exit 1; }
echo "RGW_ENDPOINT=http://127.0.0.1:$port"
echo "RGW_ACCESS_KEY=$access"
echo "RGW_SECRET_KEY=$secret"
