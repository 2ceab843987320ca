# PID 1 of a rigshare instance, run by the toolbox's static busybox (any image works, even one
# without a shell). It starts SSH (and JupyterLab when asked), then holds the instance until
# the paid-until time in /.rigshare/run/deadline and exits, which stops the container even if
# the agent is dead. As PID 1 it cannot be killed or stopped from inside the container (the
# kernel drops signals to a namespace's init that it has no handler for), and its `wait` reaps
# every orphan that is re-parented to it (ash waits for any child while it
# waits for one). The agent rewrites the deadline file for /extend.
T=/.rigshare/tools
R=/.rigshare/run
B="$T/busybox"
export PATH="${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}"

$B mkdir -p /run /tmp /var/log 2>/dev/null
$B chmod 1777 /tmp 2>/dev/null

# sshd of the instance: dropbear from the toolbox with its own loader and libraries, started
# per connection by busybox's listener (dropbear's own listener re-executes itself through
# /proc/self/exe, which would lose the toolbox's library path); the host key the agent
# generated for this instance, public keys only, the image's environment passed on (conda and
# CUDA images set PATH there)
$B nc -ll -p 22 -e "$T/lib/ld.so" --library-path "$T/lib" "$T/bin/dropbear" \
  -i -s -e -r "$R/host_key" -r "$R/host_key_rsa" >/var/log/rigshare-sshd.log 2>&1 &

if [ -f "$R/jupyter" ]; then
  JUPYTER_TOKEN="$($B cat "$R/jupyter")"
  export JUPYTER_TOKEN
  # on loopback only: the renter reaches it through the SSH tunnel, never an open port
  (
    cd /root 2>/dev/null || cd /
    if command -v jupyter-lab >/dev/null 2>&1; then
      exec jupyter-lab --allow-root --no-browser --ip=127.0.0.1 --port=8888 \
        --ServerApp.token="$JUPYTER_TOKEN"
    else
      exec jupyter-notebook --allow-root --no-browser --ip=127.0.0.1 --port=8888 \
        --NotebookApp.token="$JUPYTER_TOKEN"
    fi
  ) >/var/log/jupyter.log 2>&1 &
  unset JUPYTER_TOKEN
fi

while :; do
  now="$($B date +%s)"
  end="$($B cat "$R/deadline" 2>/dev/null)"
  case "$end" in '' | *[!0-9]*) end=0 ;; esac
  if [ "$now" -ge "$end" ]; then
    exit 0
  fi
  left=$((end - now))
  if [ "$left" -gt 5 ]; then left=5; fi
  $B sleep "$left" &
  wait $!
done
