package hostchecks

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// conntrackStat is /proc/net/stat/nf_conntrack summed over CPUs.
type conntrackStat struct {
	// Entries is the global entry count, repeated on every CPU line.
	Entries uint64
	// Totals holds every other column by its header name, summed over CPUs.
	Totals map[string]uint64
	// CPUs is the number of per-CPU lines (one per possible CPU).
	CPUs int
}

// parseConntrackStat parses /proc/net/stat/nf_conntrack (or the legacy
// ip_conntrack file): a header line naming the columns, then one line per
// possible CPU of %08x hex values (ct_cpu_seq_show in
// net/netfilter/nf_conntrack_standalone.c). Columns are found by name because
// their set changed across kernels (searched became clashres, delete_list
// became chainlength, search_restart was added in 2.6.35); prometheus/procfs
// parses by position, which is why it is not used here. The first column,
// entries, is the global count printed on every line and is not summed.
func parseConntrackStat(r io.Reader) (conntrackStat, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return conntrackStat{}, err
		}
		return conntrackStat{}, errors.New("empty")
	}
	header := strings.Fields(sc.Text())
	if len(header) == 0 || header[0] != "entries" {
		return conntrackStat{}, fmt.Errorf("header does not start with \"entries\": %q", sc.Text())
	}
	st := conntrackStat{Totals: make(map[string]uint64, len(header)-1)}
	for _, name := range header[1:] {
		st.Totals[name] = 0
	}
	lineNo := 1
	for sc.Scan() {
		lineNo++
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != len(header) {
			return conntrackStat{}, fmt.Errorf("line %d: %d values for %d columns", lineNo, len(fields), len(header))
		}
		for i, raw := range fields {
			v, err := strconv.ParseUint(raw, 16, 64)
			if err != nil {
				return conntrackStat{}, fmt.Errorf("line %d: column %s: %q is not hex", lineNo, header[i], raw)
			}
			if i == 0 {
				st.Entries = v
				continue
			}
			st.Totals[header[i]] += v
		}
		st.CPUs++
	}
	if err := sc.Err(); err != nil {
		return conntrackStat{}, err
	}
	if st.CPUs == 0 {
		return conntrackStat{}, errors.New("no per-CPU lines")
	}
	return st, nil
}
