package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"math"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/dream-api/dream/edge"
	"github.com/dream-api/dream/edge/tally"
	"github.com/dream-api/dream/ratelimit"
)

// A node's memory is one budget, a share of what the node has: the soft
// memory limit of Go's collector, of which the caches of end users (their
// verified tokens, usage views and rate-limit buckets) take cacheShare,
// sized by what an entry of each costs. The rest is for the requests'
// garbage, the small caches of projects and keys, and Go itself; SQLite's
// page cache and LiteFS live outside the budget, in what the share leaves.
//
// The collector aims at five times the live heap (GOGC 400): at Go's
// default of 100 a node collected many times a second under load, and with
// the scavenger returning pages to the kernel took a noticeable share of
// its CPU. The soft limit caps that aim at the budget. GOGC and GOMEMLIMIT
// in the environment override either, as for any Go program.
const (
	gcPercent  = 400
	cacheShare = 0.5
	// endUserBytes is what keeping one end user warm costs.
	endUserBytes = edge.TokenEntryBytes + tally.ViewEntryBytes + ratelimit.BucketBytes
)

// MemoryBudget is the --memory-budget setting: a share of the node's
// memory in percent, or a number of bytes.
type MemoryBudget struct {
	Percent int
	Bytes   int64
}

// parseMemoryBudget reads "50%", or a size such as "300MiB", "1GiB" or a
// number of bytes.
func parseMemoryBudget(v string) (MemoryBudget, error) {
	if p, ok := strings.CutSuffix(v, "%"); ok {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 90 {
			return MemoryBudget{}, fmt.Errorf("must be a share from 1%% to 90%%, or a size such as 256MiB")
		}
		return MemoryBudget{Percent: n}, nil
	}
	units := []struct {
		suffix string
		bytes  int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}, {"", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			i, err := strconv.ParseInt(n, 10, 64)
			if err != nil || i < 32<<20/u.bytes || i > math.MaxInt64/u.bytes {
				break
			}
			return MemoryBudget{Bytes: i * u.bytes}, nil
		}
	}
	return MemoryBudget{}, fmt.Errorf("must be a share from 1%% to 90%%, or a size of 32MiB or more such as 256MiB")
}

// nodeMemory is the memory a node has and where that figure came from.
type nodeMemory struct {
	Bytes  int64
	Source string
}

// readNodeMemory reads the memory of the node from root (the file system's
// root): its cgroup's limit when the cgroup sets one lower than the
// machine's memory, else the machine's memory.
func readNodeMemory(root fs.FS) (nodeMemory, error) {
	meminfo, err := fs.ReadFile(root, "proc/meminfo")
	if err != nil {
		return nodeMemory{}, fmt.Errorf("reading the machine's memory: %w", err)
	}
	var machine int64
	lines := bufio.NewScanner(bytes.NewReader(meminfo))
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return nodeMemory{}, fmt.Errorf("reading the machine's memory: MemTotal %q", rest)
			}
			machine = kb << 10
		}
	}
	if machine == 0 {
		return nodeMemory{}, fmt.Errorf("reading the machine's memory: /proc/meminfo has no MemTotal")
	}
	if limit := cgroupLimit(root); limit > 0 && limit < machine {
		return nodeMemory{Bytes: limit, Source: "cgroup"}, nil
	}
	return nodeMemory{Bytes: machine, Source: "machine"}, nil
}

// cgroupLimit is the memory limit of this process's cgroup, v2 or v1, or 0
// when it sets none or cannot be read.
func cgroupLimit(root fs.FS) int64 {
	self, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0
	}
	var files []string
	for _, line := range strings.Split(strings.TrimSpace(string(self)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		path := strings.Trim(parts[2], "/")
		switch {
		case parts[0] == "0" && parts[1] == "":
			files = append(files, "sys/fs/cgroup/"+path+"/memory.max", "sys/fs/cgroup/memory.max")
		case strings.Contains(","+parts[1]+",", ",memory,"):
			files = append(files, "sys/fs/cgroup/memory/"+path+"/memory.limit_in_bytes", "sys/fs/cgroup/memory/memory.limit_in_bytes")
		}
	}
	for _, name := range files {
		data, err := fs.ReadFile(root, strings.ReplaceAll(name, "//", "/"))
		if err != nil {
			continue
		}
		// "max" (v2) or a number near 2^63 (v1) is no limit.
		limit, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || limit >= 1<<60 {
			return 0
		}
		return limit
	}
	return 0
}

// memoryPlan is how a node spends its memory.
type memoryPlan struct {
	Node nodeMemory
	// Budget is the collector's soft memory limit.
	Budget int64
	// CachedEndUsers is how many end users the caches keep warm.
	CachedEndUsers int
}

// planMemory divides a node's memory by the budget.
func planMemory(node nodeMemory, budget MemoryBudget) memoryPlan {
	p := memoryPlan{Node: node, Budget: budget.Bytes}
	if budget.Percent > 0 {
		p.Budget = node.Bytes * int64(budget.Percent) / 100
	}
	p.CachedEndUsers = int(float64(p.Budget) * cacheShare / endUserBytes)
	return p
}

// applyGC sets the collector's goal and soft limit from the plan, where the
// environment sets neither.
func (p memoryPlan) applyGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(p.Budget)
	}
}
