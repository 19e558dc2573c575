package hostchecks

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/nodetriage/nodetriage/probes"
)

// journald's configuration and storage (man journald.conf, systemd 252).
const (
	journaldMainConfig    = "/etc/systemd/journald.conf"
	journaldVendorConfig  = "/usr/lib/systemd/journald.conf"
	journaldPersistentDir = "/var/log/journal"
	journaldVolatileDir   = "/run/log/journal"
	// journaldDefaultCap caps the 10 % default of SystemMaxUse/RuntimeMaxUse.
	journaldDefaultCap = 4 << 30
	// journaldMaxFileCap caps the default SystemMaxFileSize (1/8 of MaxUse).
	journaldMaxFileCap = 128 << 20
)

// journaldDropInDirs are searched for *.conf drop-ins in priority order; a
// file name in an earlier directory masks the same name in later ones.
var journaldDropInDirs = []string{
	"/etc/systemd/journald.conf.d",
	"/run/systemd/journald.conf.d",
	"/usr/local/lib/systemd/journald.conf.d",
	"/usr/lib/systemd/journald.conf.d",
}

// journaldSetting is a size limit and where it was set.
type journaldSetting struct {
	Bytes uint64
	// From is "file:line", or "" for journald's default.
	From string
}

// journaldConfig is the part of journald's configuration the log-rotation
// check uses.
type journaldConfig struct {
	SystemMaxUse, RuntimeMaxUse journaldSetting
	Storage                     string
	// Sources are the files read, in order.
	Sources []string
	// Ignored are values journald rejects (it logs them and keeps the
	// previous value), as "file:line: message".
	Ignored []string
}

// parseJournaldConf applies one journald.conf-format file to cfg: the
// [Journal] section's SystemMaxUse=, RuntimeMaxUse= and Storage=; later
// assignments win, as in systemd's own parser.
func parseJournaldConf(cfg *journaldConfig, file string, data []byte) {
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	lineNo := 0
	var continued strings.Builder
	startLine := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		// A trailing backslash continues the line (systemd config syntax).
		if strings.HasSuffix(line, "\\") {
			if continued.Len() == 0 {
				startLine = lineNo
			}
			continued.WriteString(strings.TrimSuffix(line, "\\"))
			continued.WriteByte(' ')
			continue
		}
		at := lineNo
		if continued.Len() > 0 {
			continued.WriteString(line)
			line, at = continued.String(), startLine
			continued.Reset()
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			continue
		}
		if section != "Journal" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			cfg.Ignored = append(cfg.Ignored, fmt.Sprintf("%s:%d: missing '='", file, at))
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		where := fmt.Sprintf("%s:%d", file, at)
		switch key {
		case "SystemMaxUse", "RuntimeMaxUse":
			n, err := parseSystemdSize(value)
			if err != nil {
				cfg.Ignored = append(cfg.Ignored, fmt.Sprintf("%s: %s=%s: %v", where, key, value, err))
				continue
			}
			s := journaldSetting{Bytes: n, From: where}
			if key == "SystemMaxUse" {
				cfg.SystemMaxUse = s
			} else {
				cfg.RuntimeMaxUse = s
			}
		case "Storage":
			cfg.Storage = value
		}
	}
}

// parseSystemdSize reads a size as systemd's parse_size() with base 1024
// does for SystemMaxUse=: one or more numbers (fractions allowed) each with
// an optional B, K, M, G, T, P or E suffix, summed ("1G 512M"). journald does
// not accept percentages here.
func parseSystemdSize(v string) (uint64, error) {
	if strings.TrimSpace(v) == "" {
		return 0, errors.New("empty size")
	}
	var total float64
	rest := strings.TrimSpace(v)
	for rest != "" {
		end := 0
		for end < len(rest) && (isASCIIDigit(rest[end]) || rest[end] == '.') {
			end++
		}
		if end == 0 {
			return 0, fmt.Errorf("invalid size %q", v)
		}
		n, err := strconv.ParseFloat(rest[:end], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid size %q", v)
		}
		rest = strings.TrimLeft(rest[end:], " \t")
		mult := 1.0
		if rest != "" {
			if i := strings.IndexByte("BKMGTPE", rest[0]); i >= 0 {
				mult = math.Pow(1024, float64(i))
				rest = strings.TrimLeft(rest[1:], " \t")
			}
		}
		total += n * mult
	}
	if total >= math.MaxUint64 {
		return 0, fmt.Errorf("size %q too large", v)
	}
	return uint64(total), nil
}

// readJournaldConfig reads journald.conf and its drop-ins under the host
// root, in systemd's order.
func readJournaldConfig(host probes.FS) (journaldConfig, error) {
	var cfg journaldConfig
	main := journaldMainConfig
	data, err := host.ReadFile(main)
	if errors.Is(err, fs.ErrNotExist) {
		main = journaldVendorConfig
		data, err = host.ReadFile(main)
	}
	switch {
	case err == nil:
		cfg.Sources = append(cfg.Sources, main)
		parseJournaldConf(&cfg, main, data)
	case !errors.Is(err, fs.ErrNotExist):
		return journaldConfig{}, err
	}
	dropIns := map[string]string{} // name → path of the winning copy
	for _, dir := range journaldDropInDirs {
		entries, err := host.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return journaldConfig{}, err
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".conf") || e.IsDir() {
				continue
			}
			if _, masked := dropIns[e.Name()]; !masked {
				dropIns[e.Name()] = path.Join(dir, e.Name())
			}
		}
	}
	names := make([]string, 0, len(dropIns))
	for name := range dropIns {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := dropIns[name]
		data, err := host.ReadFile(p)
		if err != nil {
			return journaldConfig{}, err
		}
		cfg.Sources = append(cfg.Sources, p)
		parseJournaldConf(&cfg, p, data)
	}
	return cfg, nil
}

// journaldDefaultMaxUse is journald's default SystemMaxUse/RuntimeMaxUse:
// 10 % of the filesystem, capped at 4G.
func journaldDefaultMaxUse(fsBytes uint64) uint64 {
	return min(fsBytes/10, journaldDefaultCap)
}

// journaldSlack is how far over MaxUse journald may legitimately be: it only
// deletes archived files, so the active file, up to SystemMaxFileSize (1/8
// of MaxUse, capped at 128M by default), can sit on top.
func journaldSlack(maxUse uint64) uint64 {
	return min(maxUse/8, journaldMaxFileCap)
}

// journalUsage is the space taken by journal files in one storage directory.
type journalUsage struct {
	Bytes uint64
	Files int
	// BySubdir is the usage per machine-ID directory.
	BySubdir map[string]uint64
}

// isJournalFile says whether journald counts a file: it ignores names not
// ending in .journal or .journal~.
func isJournalFile(name string) bool {
	return strings.HasSuffix(name, ".journal") || strings.HasSuffix(name, ".journal~")
}

// readJournalUsage sums the journal files in dir and its machine-ID
// subdirectories (apparent sizes). A missing dir is zero usage.
func readJournalUsage(host probes.FS, dir string) (journalUsage, error) {
	u := journalUsage{BySubdir: map[string]uint64{}}
	entries, err := host.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return u, nil
	}
	if err != nil {
		return u, err
	}
	for _, e := range entries {
		switch {
		case e.IsDir():
			sub := path.Join(dir, e.Name())
			files, err := host.ReadDir(sub)
			if err != nil {
				return u, err
			}
			for _, f := range files {
				if f.IsDir() || !isJournalFile(f.Name()) {
					continue
				}
				fi, err := f.Info()
				if err != nil {
					continue // vacuumed while we looked
				}
				u.Bytes += uint64(fi.Size())
				u.BySubdir[e.Name()] += uint64(fi.Size())
				u.Files++
			}
		case isJournalFile(e.Name()):
			if fi, err := e.Info(); err == nil {
				u.Bytes += uint64(fi.Size())
				u.Files++
			}
		}
	}
	return u, nil
}
