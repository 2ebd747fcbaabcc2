package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU time is the benchmark's second opinion. When other people compile on
// the same two cores, wall-clock rates swing by half from one minute to the
// next, but the CPU seconds a workflow costs the Temporal server, the
// worker and PostgreSQL barely move: tuning decisions were made on them.

// clockTick is the kernel's USER_HZ, the unit of /proc/<pid>/stat times;
// 100 on every Linux this runs on.
const clockTick = 100

// procCPU is the user+system CPU time of pid so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu of pid %d: %w", pid, err)
	}
	// The command name may hold spaces; fields start after its ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("cpu of pid %d: short stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cpu of pid %d: bad stat", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTick, nil
}

// selfCPU is this process's CPU time: the ceilings' clients and workers.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// listener finds the process listening on addr's TCP port, so the
// benchmark can read the CPU time of the dev stack it did not start.
func listener(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("address %s: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return 0, fmt.Errorf("address %s: %w", addr, err)
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			fs := strings.Fields(line)
			// local_address is HEX_IP:HEX_PORT; state 0A is LISTEN.
			if len(fs) < 10 || fs[3] != "0A" {
				continue
			}
			_, hp, _ := strings.Cut(fs[1], ":")
			if n, err := strconv.ParseInt(hp, 16, 32); err == nil && int(n) == port {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("nothing listens on port %d", port)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*") // a bad pattern is the only error
	for _, fd := range procs {
		if target, err := os.Readlink(fd); err == nil && inodes[target] {
			pid, err := strconv.Atoi(strings.Split(fd, "/")[2])
			if err == nil {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process of ours listens on port %d", port)
}

// children lists the live children of pid: PostgreSQL's backends.
func children(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat") // a bad pattern is the only error
	var out []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			if c, err := strconv.Atoi(strings.Split(f, "/")[2]); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// cpuMeter adds up the CPU time of the processes a step runs on: the
// Temporal server, PostgreSQL (postmaster and backends, including those
// that exit during the step, which the postmaster's reaped-children time
// picks up), the kamflow worker and this process.
type cpuMeter struct {
	temporalPID, postgresPID int
}

// cpuSample is one reading of a cpuMeter.
type cpuSample struct {
	temporal, postgres, self time.Duration
	worker                   time.Duration
}

func (m cpuMeter) sample(workerPID int) cpuSample {
	var s cpuSample
	if m.temporalPID > 0 {
		s.temporal, _ = procCPU(m.temporalPID) // 0 when unreadable: the line just reads 0
	}
	if m.postgresPID > 0 {
		s.postgres = postgresCPU(m.postgresPID)
	}
	if workerPID > 0 {
		s.worker, _ = procCPU(workerPID) // as above
	}
	s.self = selfCPU()
	return s
}

// postgresCPU is the CPU time of the postmaster, its live backends and
// its reaped ones (cutime+cstime).
func postgresCPU(pid int) time.Duration {
	total, _ := procCPU(pid) // 0 when unreadable
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) >= 15 {
			cu, _ := strconv.ParseInt(fields[13], 10, 64) // malformed reads as 0
			cs, _ := strconv.ParseInt(fields[14], 10, 64)
			total += time.Duration(cu+cs) * time.Second / clockTick
		}
	}
	for _, c := range children(pid) {
		t, _ := procCPU(c) // a backend that just exited counts in cutime
		total += t
	}
	return total
}

// sub returns the CPU spent between two samples.
func (s cpuSample) sub(o cpuSample) cpuSample {
	return cpuSample{temporal: s.temporal - o.temporal, postgres: s.postgres - o.postgres, self: s.self - o.self, worker: s.worker - o.worker}
}

// total is the CPU of everything the step ran on.
func (s cpuSample) total() time.Duration { return s.temporal + s.postgres + s.self + s.worker }
