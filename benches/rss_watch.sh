#!/bin/sh
# Runs a command and samples its memory once a second from /proc/PID/status (Linux): RssAnon
# (the process's own heap and stacks) and RssFile (file pages mapped in, such as a memory-mapped
# data set, which the kernel can drop and read again). At the end it prints the peaks.
#
#   benches/rss_watch.sh [--log FILE] COMMAND [ARGS...]
#
# The samples go to FILE (default: rss_watch.tsv in the current folder) as
# seconds, RssAnon kB, RssFile kB. The exit status is the command's.
set -u
log=rss_watch.tsv
if [ "${1:-}" = "--log" ]; then
    log=$2
    shift 2
fi
[ $# -gt 0 ] || { echo "usage: $0 [--log FILE] COMMAND [ARGS...]" >&2; exit 2; }

"$@" &
pid=$!
printf 'seconds\trss_anon_kb\trss_file_kb\n' >"$log"
t=0
peak_anon=0
peak_file=0
while kill -0 "$pid" 2>/dev/null; do
    line=$(awk '/^RssAnon:/ {a=$2} /^RssFile:/ {f=$2} END {if (a != "") print a, f}' \
        "/proc/$pid/status" 2>/dev/null)
    if [ -n "$line" ]; then
        set -- $line
        printf '%s\t%s\t%s\n' "$t" "$1" "$2" >>"$log"
        [ "$1" -gt "$peak_anon" ] && peak_anon=$1
        [ "$2" -gt "$peak_file" ] && peak_file=$2
    fi
    sleep 1
    t=$((t + 1))
done
wait "$pid"
status=$?
echo "rss_watch: $t s, peak RssAnon $((peak_anon / 1024)) MiB ($peak_anon kB), peak RssFile $((peak_file / 1024)) MiB ($peak_file kB); samples in $log" >&2
exit $status
