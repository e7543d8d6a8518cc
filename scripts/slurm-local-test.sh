#!/usr/bin/env bash
# Runs a small sweep as a real SLURM job array on a one-node local SLURM (Debian's slurm-wlm), then
# checks that the array's run files equal a plain `activepref run` of the same sweep byte for byte.
# Not part of CI (it installs and starts system daemons). Needs root, apt, and a release build.
# Usage: scripts/slurm-local-test.sh   (about 2 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/target/release/activepref"
[ -x "$bin" ] || cargo build --release --workspace
command -v sbatch >/dev/null || apt-get install -y slurm-wlm
host=$(hostname)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

# munge (SLURM's authentication) and a one-node configuration without cgroups.
[ -f /etc/munge/munge.key ] || mungekey --create --force
mkdir -p /run/munge /var/spool/slurmd /var/spool/slurmctld /var/log/slurm
chown -R munge:munge /etc/munge /run/munge 2>/dev/null || true
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=activepref-local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -qE 'idle|mixed' && break; sleep 1; done
sinfo

# The sweep: 2 grid points x 2 policies x 2 seeds on a tiny synthetic benchmark.
work=$(mktemp -d /tmp/activepref-slurm-XXXX)
cat > "$work/sweep.yaml" <<YAML
name: slurmtest
output_dir: $work/array
benchmark: { kind: synthetic, pool_prompts: 80, validation_prompts: 30, test_prompts: 30, ood_prompts: 30 }
model: { members: 2, mlp: { hidden: [8], weight_init_std: 0.1 }, train: { lr: 0.003, max_epochs: 3 } }
loop: { initial_labels: 10, batch_size: 10, rounds: 3 }
policies:
  random: { policy: random }
  balpm: { policy: balpm, k: 5 }
seeds: [1, 2]
sweep:
  beta:
    policies.balpm.beta: [0.1, 0.001]
slurm: { partition: local, time: "00:10:00", cpus_per_task: 1, mem: 1G, max_parallel: 2 }
YAML
"$bin" sweep slurm "$work/sweep.yaml" --out "$work/slurm"
out=$("$work/slurm/submit.sh")
echo "$out"
array=$(echo "$out" | sed -n 's/.*array job \([0-9]*\).*/\1/p')
report=$(echo "$out" | sed -n 's/.*report job \([0-9]*\).*/\1/p')
for _ in $(seq 300); do
  squeue -h -j "$array,$report" 2>/dev/null | grep -q . || break
  sleep 1
done
sacct >/dev/null 2>&1 || true
ls "$work/slurm/logs"
# The same sweep run directly, into another root.
sed "s#output_dir: $work/array#output_dir: $work/direct#" "$work/sweep.yaml" > "$work/direct.yaml"
"$bin" run -q --no-report "$work/direct.yaml" >/dev/null
n=0
for f in $(cd "$work/array" && find . -path '*/runs/*.csv' ! -name '*.timings.csv' | sort); do
  cmp "$work/array/$f" "$work/direct/$f"
  n=$((n + 1))
done
[ "$n" -eq 8 ] || { echo "expected 8 run files from the array, found $n" >&2; exit 1; }
[ -f "$work/array/beta/ablation/ablation.md" ] || { echo "the merge step wrote no ablation report" >&2; exit 1; }
echo "slurm-local-test: $n run files from the SLURM array equal the direct run's; the merge step wrote the reports ($work)"
