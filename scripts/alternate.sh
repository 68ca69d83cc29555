# Sourced by the comparison scripts: `alternate RUNS NAME PREPARE COMMAND [NAME PREPARE
# COMMAND]...` runs the commands in turn, one run of each per round, RUNS rounds (and one
# round first, not counted), so that a machine whose load changes slows every command alike;
# PREPARE (not timed; "true" for none) runs before each run of its command. Each command is
# run by this shell (`eval`: its processes are forked and executed from here, no `sh -c` in
# between). Prints a markdown table: median, minimum and maximum wall time, and the median
# relative to the last command's.
# `installed SRC NAME`: prints the path of a copy of the CLI SRC as `make install` leaves one
# (written by install(1)), in $target/installed/NAME, on the project's filesystem whatever
# TMPDIR says. The comparisons run such copies, never the linker's output itself: that file
# was written through a mapping and sits in the page cache in 4 KiB pages, so an exec of it
# takes some 6 page faults more than of the same bytes installed, about 0.1 ms a process on a
# virtual machine (BENCHMARKS.md), which is no property of the code.
installed() {
    local dest=$target/installed/$2
    install -D -m 0755 "$1" "$dest"
    echo "$dest"
}

alternate() {
    local runs=$1; shift
    local -a names=() preps=() cmds=()
    while [ $# -ge 3 ]; do names+=("$1"); preps+=("$2"); cmds+=("$3"); shift 3; done
    local n=${#names[@]} r i t0 t1
    local -a samples=()
    for ((r = 0; r <= runs; r++)); do
        for ((i = 0; i < n; i++)); do
            eval "${preps[i]}" >/dev/null 2>&1 || true
            t0=$EPOCHREALTIME
            eval "${cmds[i]}" >/dev/null 2>&1 || { echo "alternate: ${names[i]} failed" >&2; return 1; }
            t1=$EPOCHREALTIME
            [ "$r" -gt 0 ] && samples[i]+="$(( (${t1/./} - ${t0/./}) )) "
        done
    done
    local -a med=()
    for ((i = 0; i < n; i++)); do
        med[i]=$(tr ' ' '\n' <<< "${samples[i]}" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    done
    echo "| command | median | min | max | median / ${names[n-1]} |"
    echo "|:---|---:|---:|---:|---:|"
    for ((i = 0; i < n; i++)); do
        tr ' ' '\n' <<< "${samples[i]}" | grep . | sort -n | awk -v name="${names[i]}" -v m="${med[i]}" -v base="${med[n-1]}" '
            {a[NR]=$1} END {
                printf "| `%s` | %.2f ms | %.2f ms | %.2f ms | %.2f |\n", name, m/1000, a[1]/1000, a[NR]/1000, m/base
            }'
    done
}
