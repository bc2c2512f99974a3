# tui-orch metrics sampler: POSIX sh + /proc + cgroup files only (dash, busybox sh, bash).
# Usage: sh -c "$(cat sampler.sh)" tui-orch-sampler INTERVAL DOCKER_ROOT EVERY [CGROUP_ROOT]
# Output, one line per record (sizes in KiB, counters raw as the kernel keeps them):
#   H <protocol> <pid of this shell>                              once, first
#   S <MemTotal> <SwapTotal>                                      every EVERY ticks
#   D <root total> <root used> [<docker total> <docker used>]     every EVERY ticks (df -P -k)
#   C [<id64> ...]                                                when the running set changes
#   T <uptime> <load1> <load5> <load15> <MemAvailable> <SwapFree> <rx> <tx>;<busy idle per core>;<usage_usec mem_kib per container>
# Per-core busy/idle are jiffies since the previous T (the first T: since boot); the
# container pairs follow the order of the last C line ("-" when a file could not be read).
# Forks per tick: one (sleep); df runs every EVERY ticks. A write to a closed stdout ends it.
iv=$1 root=$2 every=$3
cg=${4:-/sys/fs/cgroup}
ca=$cg/cpuacct
[ -d "$ca" ] || ca=$cg/cpu,cpuacct
v2=
[ -f "$cg/cgroup.controllers" ] && v2=1
n=0 prev= oids=
printf 'H 1 %s\n' "$$" || exit 0

# cgfind ID: sets cf (cpu usage file) and mf (memory file); fails when ID has no cgroup
cgfind() {
  if [ -n "$v2" ]; then
    g=$cg/system.slice/docker-$1.scope
    [ -d "$g" ] || g=$cg/docker/$1
    [ -d "$g" ] || return 1
    cf=$g/cpu.stat mf=$g/memory.current
  else
    g=docker/$1
    [ -d "$ca/$g" ] || g=system.slice/docker-$1.scope
    [ -d "$ca/$g" ] || return 1
    cf=$ca/$g/cpuacct.usage mf=$cg/memory/$g/memory.usage_in_bytes
  fi
}

# containers: sets ids and vals for the running containers of this engine
containers() {
  if [ -r "$root/containers" ]; then
    set -- "$root"/containers/*
  elif [ -n "$v2" ]; then
    set -- "$cg"/system.slice/docker-*.scope "$cg"/docker/*
  else
    set -- "$ca"/docker/* "$ca"/system.slice/docker-*.scope
  fi
  for d in "$@"; do
    c=${d##*/}
    c=${c#docker-}
    c=${c%.scope}
    [ ${#c} -eq 64 ] || continue
    cgfind "$c" || continue
    if [ -n "$v2" ]; then
      read -r _ u _ 2>/dev/null <"$cf" || u=-
    else
      { read -r u 2>/dev/null <"$cf" && u=$((u / 1000)); } || u=-
    fi
    { read -r m 2>/dev/null <"$mf" && m=$((m / 1024)); } || m=-
    ids="$ids $c"
    vals="$vals $u $m"
  done
}

while :; do
  ma= fr=
  while read -r k v _; do
    case $k in
      MemTotal:) mt=$v ;;
      MemFree:) fr=$v ;;
      MemAvailable:) ma=$v ;;
      SwapTotal:) st=$v ;;
      SwapFree:) sf=$v; break ;;
    esac
  done </proc/meminfo
  ma=${ma:-$fr}

  set -- $prev
  prev= cores=
  {
    read -r _
    while read -r c us ni sy id io hi si sl _; do
      case $c in cpu[0-9]*) ;; *) break ;; esac
      b=$((us + ni + sy + hi + si + ${sl:-0}))
      i=$((id + ${io:-0}))
      prev="$prev $b $i"
      cores="$cores $((b - ${1:-0})) $((i - ${2:-0}))"
      [ $# -ge 2 ] && shift 2
    done
  } </proc/stat

  rx=0 tx=0
  {
    read -r _
    read -r _
    while IFS=': ' read -r f r _ _ _ _ _ _ _ t _; do
      case $f in
        lo | veth* | docker* | br-* | ifb*) ;;
        *) rx=$((rx + ${r:-0})) tx=$((tx + ${t:-0})) ;;
      esac
    done
  } </proc/net/dev

  read -r up _ </proc/uptime
  read -r l1 l5 l15 _ </proc/loadavg

  ids= vals=
  containers

  if [ $((n % every)) -eq 0 ]; then
    printf 'S %s %s\n' "$mt" "$st" || exit 0
    df -P -k / "$root" 2>/dev/null | {
      read -r _
      l=D
      while read -r _ t u _; do l="$l $t $u"; done
      printf '%s\n' "$l"
    }
  fi
  if [ "$ids" != "$oids" ]; then
    printf 'C%s\n' "$ids" || exit 0
    oids=$ids
  fi
  printf 'T %s %s %s %s %s %s %s %s;%s;%s\n' "$up" "$l1" "$l5" "$l15" "$ma" "$sf" "$rx" "$tx" "${cores# }" "${vals# }" || exit 0
  n=$((n + 1))
  sleep "$iv" || exit 0
done
