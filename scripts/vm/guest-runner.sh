#!/bin/sh
# Baked into the guest image (lane.service). Kept minimal so the suite can change without
# rebuilding the image: it unpacks the payload (dist/jailx + the suite, a tar on /dev/vdb) and
# runs the suite; everything the suite prints goes to the second serial port, read by the host.
out=/dev/ttyS1
stty -F "$out" raw -echo 2>/dev/null
rm -rf /opt/lane && mkdir -p /opt/lane
if ! tar -xf /dev/vdb -C /opt/lane; then echo "LANE-ERROR cannot unpack payload" > "$out"; exit 1; fi
/opt/lane/suite.sh > "$out" 2>&1
echo "LANE-END $?" > "$out"
