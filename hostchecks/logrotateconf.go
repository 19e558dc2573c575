package hostchecks

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// This file reads logrotate(8) configuration the way logrotate 3.21/3.22
// itself does (config.c), so that the log-rotation check judges the rules
// logrotate really applies. The tests run the real `logrotate --debug` on the
// same configs and compare. Only what the check needs is kept: which files a
// rule covers, its rotation criterion and sizes, how many rotated files it
// keeps, maxage and copytruncate.
//
// logrotate's behaviour, mirrored here:
//   - Options outside a { } block set the defaults of the blocks that follow,
//     also those in files included later; an include is read inline, with the
//     defaults of where it stands (inside a block: that block's options).
//   - An include of a directory reads its files in byte order, skipping names
//     that match the taboo list (tabooext/taboopat; a leading dot is only
//     matched by a pattern with a leading dot), anything not a regular file,
//     and files writable by group or others or not owned by root.
//   - size/hourly/daily/weekly/monthly/yearly are one criterion: the last one
//     wins; none at all means "size 1M".
//   - Sizes take k/K, M or G (powers of 1024) after a number as strtoull(3)
//     base 0 reads it (0x.. hex, 0.. octal).
//   - A value runs to the end of its line ("rotate 4 # keep" is an error); a
//     line whose first non-blank character is # is a comment; options without
//     a value may share a line.
//   - Scripts (prerotate, postrotate, firstaction, lastaction, preremove) run
//     up to a line whose first word is endscript.
//   - A bad value inside a block drops the block and logrotate skips ahead to
//     the next line that starts with } in column 0 (swallowing any blocks in
//     between when the braces are indented). A bad value outside a block, a
//     stray }, a bad weekly argument, a header without { or a script without
//     endscript make logrotate stop reading the file there, dropping the
//     block in progress. Unknown options and other odd lines are skipped.
//   - A file that had any error has its global option changes undone.

// logrotateCriterion is when logrotate considers a log due.
type logrotateCriterion string

const (
	rotateBySize  logrotateCriterion = "size"
	rotateHourly  logrotateCriterion = "hourly"
	rotateDaily   logrotateCriterion = "daily"
	rotateWeekly  logrotateCriterion = "weekly"
	rotateMonthly logrotateCriterion = "monthly"
	rotateYearly  logrotateCriterion = "yearly"
)

const (
	// logrotateDefaultSize is the size criterion logrotate applies when a
	// rule names none (logrotate -d prints "1048576 bytes").
	logrotateDefaultSize = 1 << 20
	// logrotateMaxDepth is logrotate's include nesting limit (MAX_NESTING).
	logrotateMaxDepth = 16
	// logrotateMaxFileSize: logrotate refuses bigger config files.
	logrotateMaxFileSize = 0xffffff
)

// isTimeBased says whether the criterion is a time interval.
func (c logrotateCriterion) isTimeBased() bool { return c != rotateBySize }

// logrotateOptions are the effective settings of a rule.
type logrotateOptions struct {
	Criterion logrotateCriterion
	// Size is the threshold of the size criterion, in bytes.
	Size uint64
	// MinSize and MaxSize are 0 when not set.
	MinSize, MaxSize uint64
	// Rotate is how many rotated files are kept; -1 keeps them all.
	Rotate int64
	// MaxAge in days; 0 when not set.
	MaxAge       uint64
	CopyTruncate bool
	Copy         bool
	MissingOK    bool
	Compress     bool
	// PostRotate is set when the rule has a postrotate script (the usual way
	// to make a daemon reopen its log).
	PostRotate bool
}

// defaultLogrotateOptions is what logrotate uses before any option is read.
func defaultLogrotateOptions() logrotateOptions {
	return logrotateOptions{Criterion: rotateBySize, Size: logrotateDefaultSize}
}

// logrotateRule is one { } block.
type logrotateRule struct {
	// File and Line locate the block's first line (host path, 1-based).
	File string
	Line int
	// Patterns are the log paths or globs of the block, unquoted.
	Patterns []string
	logrotateOptions
}

// Where is "file:line" for messages.
func (r logrotateRule) Where() string { return fmt.Sprintf("%s:%d", r.File, r.Line) }

// Matches says whether a host path is named by one of the rule's patterns,
// with glob(3) rules: * and ? do not cross / and do not match a leading dot.
func (r logrotateRule) Matches(p string) bool {
	for _, pat := range r.Patterns {
		if logrotateGlobMatch(pat, p) {
			return true
		}
	}
	return false
}

// logrotateGlobMatch matches like glob(3) without GLOB_PERIOD.
func logrotateGlobMatch(pattern, name string) bool {
	pp, np := strings.Split(pattern, "/"), strings.Split(name, "/")
	if len(pp) != len(np) {
		return false
	}
	for i := range pp {
		if strings.HasPrefix(np[i], ".") && !strings.HasPrefix(pp[i], ".") {
			return false
		}
		if ok, err := path.Match(pp[i], np[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

// logrotateIssue is something logrotate complains about in a config file.
type logrotateIssue struct {
	File string
	Line int // 0 when about the whole file
	Msg  string
	// Dropped lists the patterns of blocks logrotate throws away because of
	// this issue.
	Dropped []string
	// StopsFile is set when logrotate reads no further in the file.
	StopsFile bool
	// IgnoredFile is set when logrotate does not read the file at all.
	IgnoredFile bool
}

// Serious says whether logrotate loses rules over the issue (as opposed to
// skipping an unknown option).
func (i logrotateIssue) Serious() bool { return len(i.Dropped) > 0 || i.StopsFile || i.IgnoredFile }

func (i logrotateIssue) Error() string {
	if i.Line == 0 {
		return i.File + ": " + i.Msg
	}
	return fmt.Sprintf("%s:%d: %s", i.File, i.Line, i.Msg)
}

// logrotateConfig is everything read from a main config and its includes.
type logrotateConfig struct {
	Rules  []logrotateRule
	Issues []logrotateIssue
	// Sources are the files and directories looked at (read, listed, or
	// found missing or ignored), so a caller can tell cheaply whether the
	// configuration changed.
	Sources []string
}

// RuleFor returns the first rule covering the host path (logrotate takes a
// file into the first rule that names it and reports later ones as
// duplicates), or nil.
func (c *logrotateConfig) RuleFor(p string) *logrotateRule {
	for i := range c.Rules {
		if c.Rules[i].Matches(p) {
			return &c.Rules[i]
		}
	}
	return nil
}

// logrotateFS is the part of probes.FS the reader needs.
type logrotateFS interface {
	ReadFile(name string) ([]byte, error)
	Stat(name string) (fs.FileInfo, error)
	ReadDir(name string) ([]fs.DirEntry, error)
}

// defaultLogrotateTaboo is logrotate 3.21's startup taboo list (man
// logrotate, tabooext) as name patterns. Later versions add *.bak and
// *.dpkg-tmp.
var defaultLogrotateTaboo = []string{
	"*,v", "*.cfsaved", "*.disabled", "*.dpkg-bak", "*.dpkg-del", "*.dpkg-dist", "*.dpkg-new", "*.dpkg-old",
	"*.rhn-cfg-tmp-*", "*.rpmnew", "*.rpmorig", "*.rpmsave", "*.swp", "*.ucf-dist", "*.ucf-new", "*.ucf-old", "*~",
}

// readLogrotateConfig reads the main logrotate config file (normally
// /etc/logrotate.conf) and everything it includes. Only a main file that
// cannot be read is an error; problems further in are Issues, as they are for
// logrotate, which reports them and carries on.
func readLogrotateConfig(fsys logrotateFS, mainFile string) (*logrotateConfig, error) {
	data, err := fsys.ReadFile(mainFile)
	if err != nil {
		return nil, fmt.Errorf("read logrotate config: %w", err)
	}
	r := newLogrotateReader(fsys)
	r.cfg.Sources = append(r.cfg.Sources, mainFile)
	r.reading[mainFile] = true
	defaults := defaultLogrotateOptions()
	r.parseFile(mainFile, data, &defaults, 0)
	return r.cfg, nil
}

// parseLogrotateConfig parses one config file's text with logrotate's
// defaults, without following includes (they become issues).
func parseLogrotateConfig(name string, data []byte) *logrotateConfig {
	r := newLogrotateReader(nil)
	defaults := defaultLogrotateOptions()
	r.parseFile(name, data, &defaults, 0)
	return r.cfg
}

func newLogrotateReader(fsys logrotateFS) *logrotateReader {
	return &logrotateReader{
		fsys:    fsys,
		cfg:     &logrotateConfig{},
		taboo:   slices.Clone(defaultLogrotateTaboo),
		reading: map[string]bool{},
	}
}

type logrotateReader struct {
	fsys  logrotateFS // nil: includes are not followed
	cfg   *logrotateConfig
	taboo []string
	// reading holds the files on the include stack, to stop include loops.
	reading map[string]bool
}

func (r *logrotateReader) addIssue(iss logrotateIssue) { r.cfg.Issues = append(r.cfg.Issues, iss) }

// include reads the file or directory an include directive names. It
// reports whether everything included was read without error.
func (r *logrotateReader) include(from string, line int, target string, defaults *logrotateOptions, depth int) bool {
	if r.fsys == nil {
		r.addIssue(logrotateIssue{File: from, Line: line, Msg: "include " + target + " not followed"})
		return true
	}
	if strings.HasPrefix(target, "~/") {
		r.addIssue(logrotateIssue{File: from, Line: line, Msg: "include " + target + " is relative to the home directory of whoever runs logrotate; not followed"})
		return true
	}
	if !path.IsAbs(target) {
		target = path.Join(path.Dir(from), target)
	}
	if depth >= logrotateMaxDepth {
		r.addIssue(logrotateIssue{File: from, Line: line, Msg: "include nesting too deep"})
		return false
	}
	// A missing target is a source too: creating it changes the config.
	r.cfg.Sources = append(r.cfg.Sources, target)
	fi, err := r.fsys.Stat(target)
	if err != nil {
		r.addIssue(logrotateIssue{File: from, Line: line, Msg: fmt.Sprintf("include %s: %s", target, describeFSError(err))})
		return false
	}
	if !fi.IsDir() {
		return r.includeFile(target, defaults, depth)
	}
	entries, err := r.fsys.ReadDir(target)
	if err != nil {
		r.addIssue(logrotateIssue{File: from, Line: line, Msg: fmt.Sprintf("include %s: %s", target, describeFSError(err))})
		return false
	}
	ok := true
	for _, e := range entries { // ReadDir sorts by name, as logrotate does in the C locale
		if r.isTaboo(e.Name()) {
			continue
		}
		if !r.includeFile(path.Join(target, e.Name()), defaults, depth) {
			ok = false
		}
	}
	return ok
}

// isTaboo matches a file name against the taboo list like fnmatch(3) with
// FNM_PERIOD.
func (r *logrotateReader) isTaboo(name string) bool {
	for _, pat := range r.taboo {
		if strings.HasPrefix(name, ".") && !strings.HasPrefix(pat, ".") {
			continue
		}
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
	}
	return false
}

// includeFile reads one included config file. A file with errors has its
// changes to the defaults undone, as logrotate does.
func (r *logrotateReader) includeFile(name string, defaults *logrotateOptions, depth int) bool {
	if !slices.Contains(r.cfg.Sources, name) { // a chmod of an ignored file changes the config too
		r.cfg.Sources = append(r.cfg.Sources, name)
	}
	fi, err := r.fsys.Stat(name)
	if err != nil {
		r.addIssue(logrotateIssue{File: name, Msg: "stat: " + describeFSError(err), IgnoredFile: true})
		return false
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 {
		return true // logrotate skips directories, pipes and empty files quietly
	}
	if fi.Mode().Perm()&0o022 != 0 {
		r.addIssue(logrotateIssue{File: name, IgnoredFile: true,
			Msg: fmt.Sprintf("logrotate ignores it because it is writable by group or others (mode %#o)", fi.Mode().Perm())})
		return true
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
		r.addIssue(logrotateIssue{File: name, IgnoredFile: true,
			Msg: fmt.Sprintf("logrotate ignores it because it is owned by uid %d, not root", st.Uid)})
		return true
	}
	if fi.Size() > logrotateMaxFileSize {
		r.addIssue(logrotateIssue{File: name, IgnoredFile: true, Msg: "too large to be a logrotate config file"})
		return false
	}
	if r.reading[name] {
		r.addIssue(logrotateIssue{File: name, Msg: "included from itself; not read again"})
		return false
	}
	data, err := r.fsys.ReadFile(name)
	if err != nil {
		r.addIssue(logrotateIssue{File: name, Msg: "read: " + describeFSError(err), IgnoredFile: true})
		return false
	}
	r.reading[name] = true
	backup := *defaults
	ok := r.parseFile(name, data, defaults, depth+1)
	if !ok {
		*defaults = backup
	}
	delete(r.reading, name)
	return ok
}

// logrotateFileParser holds the state of reading one file.
type logrotateFileParser struct {
	r        *logrotateReader
	file     string
	depth    int
	defaults *logrotateOptions
	// block is the open { } block, or nil.
	block *logrotateRule
	// header accumulates a block's file names while they span lines.
	header     *strings.Builder
	headerLine int
	// script is set from prerotate/postrotate/... to endscript.
	script     bool
	scriptLine int
	// skipping is set after an error inside a block: logrotate skips to the
	// next line starting with } and drops the block; skipIssue collects the
	// blocks swallowed on the way.
	skipping  bool
	skipIssue int
	// failed is set by any error that makes logrotate report the file as
	// bad; stopped when it reads no further.
	failed, stopped bool
}

// parseFile parses one file's text and reports whether it had no error.
func (r *logrotateReader) parseFile(name string, data []byte, defaults *logrotateOptions, depth int) bool {
	p := &logrotateFileParser{r: r, file: name, depth: depth, defaults: defaults}
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		if p.stopped {
			break
		}
		p.parseLine(i+1, line)
	}
	switch {
	case p.stopped:
	case p.script:
		p.stop(p.scriptLine, "prerotate, postrotate or preremove without endscript")
	case p.header != nil:
		p.stop(p.headerLine, "missing '{' after log files definition")
	case p.block != nil && !p.skipping:
		// logrotate accepts a block left open at the end of the file.
		r.cfg.Rules = append(r.cfg.Rules, *p.block)
	}
	return !p.failed
}

// current is where options go: the open block, or the defaults.
func (p *logrotateFileParser) current() *logrotateOptions {
	if p.block != nil {
		return &p.block.logrotateOptions
	}
	return p.defaults
}

// stop records an error after which logrotate reads no further in the file;
// the block being read is lost with it.
func (p *logrotateFileParser) stop(line int, format string, args ...any) {
	iss := logrotateIssue{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...), StopsFile: true}
	switch {
	case p.header != nil:
		iss.Dropped = strings.Fields(p.header.String())
	case p.block != nil && !p.skipping:
		iss.Dropped = p.block.Patterns
	}
	p.r.addIssue(iss)
	p.block, p.header = nil, nil
	p.failed, p.stopped = true, true
}

// valueError is a bad option value: inside a block the block is dropped and
// logrotate skips ahead; outside one it stops reading the file.
func (p *logrotateFileParser) valueError(line int, format string, args ...any) {
	if p.block == nil {
		p.stop(line, format, args...)
		return
	}
	p.r.addIssue(logrotateIssue{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...), Dropped: p.block.Patterns})
	p.skipping, p.skipIssue, p.failed = true, len(p.r.cfg.Issues)-1, true
}

// note records a complaint logrotate carries on after.
func (p *logrotateFileParser) note(line int, format string, args ...any) {
	p.r.addIssue(logrotateIssue{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *logrotateFileParser) parseLine(n int, line string) {
	text := line
	switch {
	case p.script:
		word, rest := logrotateWord(line)
		if word != "endscript" {
			return
		}
		p.script = false
		if p.skipping {
			return
		}
		text = rest
	case p.skipping:
		if rest, ok := strings.CutPrefix(line, "}"); ok {
			p.block, p.skipping = nil, false
			text = rest
			break
		}
		word, _ := logrotateWord(line)
		if logrotateScripts[word] {
			p.script, p.scriptLine = true, n
			return
		}
		if t := strings.TrimLeft(line, " \t"); t != "" && strings.ContainsRune("/\"'~", rune(t[0])) {
			if i := strings.IndexByte(t, '{'); i > 0 {
				swallowed := &p.r.cfg.Issues[p.skipIssue]
				swallowed.Dropped = append(swallowed.Dropped, strings.Fields(t[:i])...)
			}
		}
		return
	case p.header != nil:
		var done bool
		if text, done = p.continueHeader(n, line); !done {
			return
		}
	}
	p.parseText(n, text)
}

// parseText reads options, block starts and ends from text (the rest of line
// n) in logrotate's default state.
func (p *logrotateFileParser) parseText(n int, text string) {
	for !p.stopped {
		text = strings.TrimLeft(text, " \t\r")
		if text == "" || text[0] == '#' {
			return
		}
		switch c := text[0]; {
		case isASCIILetter(c):
			var more bool
			if text, more = p.directive(n, text); !more {
				return
			}
		case c == '/' || c == '"' || c == '\'' || c == '~':
			if p.block != nil {
				p.valueError(n, "unexpected log filename")
				return
			}
			p.header, p.headerLine = &strings.Builder{}, n
			var done bool
			if text, done = p.headerText(n, text); !done {
				return
			}
		case c == '}':
			if p.block == nil {
				p.stop(n, "unexpected }")
				return
			}
			if !p.skipping {
				p.r.cfg.Rules = append(p.r.cfg.Rules, *p.block)
			}
			p.block = nil
			if strings.TrimSpace(text[1:]) != "" {
				p.note(n, "unexpected text after }")
			}
			return
		default:
			p.note(n, "lines must begin with a keyword or a filename (possibly in double quotes)")
			return
		}
	}
}

// continueHeader handles a line while file names are being collected: a
// comment line is skipped, otherwise the line is added up to a {.
func (p *logrotateFileParser) continueHeader(n int, line string) (rest string, done bool) {
	if t := strings.TrimLeft(line, " \t\r"); strings.HasPrefix(t, "#") {
		return "", false
	}
	p.header.WriteByte('\n')
	return p.headerText(n, line)
}

// headerText adds text to the block header up to a { (quotes do not protect
// braces: logrotate does not look at them here). done is true when the block
// was opened; rest is what follows the {.
func (p *logrotateFileParser) headerText(n int, text string) (rest string, done bool) {
	open, closing := strings.IndexByte(text, '{'), strings.IndexByte(text, '}')
	if closing >= 0 && (open < 0 || closing < open) {
		p.header.WriteString(text[:closing])
		p.stop(n, "unexpected } (missing previous '{')")
		return "", false
	}
	if open < 0 {
		p.header.WriteString(text)
		return "", false
	}
	p.header.WriteString(text[:open])
	header := p.header.String()
	p.header = nil
	patterns, err := splitLogrotatePatterns(header)
	if err != nil {
		p.header = &strings.Builder{}
		p.header.WriteString(header)
		p.stop(p.headerLine, "error parsing filename: %v", err)
		return "", false
	}
	p.block = &logrotateRule{File: p.file, Line: p.headerLine, Patterns: patterns, logrotateOptions: *p.defaults}
	return text[open+1:], true
}

// logrotateWord returns the run of letters after leading blanks, as
// logrotate's isolateWord does, and what follows it.
func logrotateWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " \t")
	end := 0
	for end < len(s) && isASCIILetter(s[end]) {
		end++
	}
	return s[:end], s[end:]
}

// logrotateFlags are the options without a value; after one, logrotate goes
// on reading the same line. A nil func is an option the check does not use.
var logrotateFlags = map[string]func(o *logrotateOptions){
	"compress":        func(o *logrotateOptions) { o.Compress = true },
	"nocompress":      func(o *logrotateOptions) { o.Compress = false },
	"copytruncate":    func(o *logrotateOptions) { o.CopyTruncate = true },
	"nocopytruncate":  func(o *logrotateOptions) { o.CopyTruncate = false },
	"renamecopy":      func(o *logrotateOptions) { o.CopyTruncate = false },
	"copy":            func(o *logrotateOptions) { o.Copy = true },
	"nocopy":          func(o *logrotateOptions) { o.Copy = false },
	"missingok":       func(o *logrotateOptions) { o.MissingOK = true },
	"nomissingok":     func(o *logrotateOptions) { o.MissingOK = false },
	"hourly":          func(o *logrotateOptions) { o.Criterion = rotateHourly },
	"daily":           func(o *logrotateOptions) { o.Criterion = rotateDaily },
	"monthly":         func(o *logrotateOptions) { o.Criterion = rotateMonthly },
	"yearly":          func(o *logrotateOptions) { o.Criterion = rotateYearly },
	"delaycompress":   nil,
	"nodelaycompress": nil,
	"shred":           nil,
	"noshred":         nil,
	"sharedscripts":   nil,
	"nosharedscripts": nil,
	"norenamecopy":    nil,
	"ifempty":         nil,
	"notifempty":      nil,
	"dateext":         nil,
	"nodateext":       nil,
	"dateyesterday":   nil,
	"datehourago":     nil,
	"noolddir":        nil,
	"mailfirst":       nil,
	"maillast":        nil,
	"nocreateolddir":  nil,
	"nocreate":        nil,
	"nomail":          nil,
	"errors":          nil, // deprecated, takes no value
}

// logrotateLineOptions take the rest of the line; the check does not use
// their values.
var logrotateLineOptions = map[string]bool{
	"create": true, "createolddir": true, "su": true, "dateformat": true, "olddir": true, "mail": true,
	"extension": true, "addextension": true, "compresscmd": true, "uncompresscmd": true,
	"compressoptions": true, "compressext": true, "start": true, "minage": true, "shredcycles": true,
}

// logrotateScripts start a script that runs to endscript.
var logrotateScripts = map[string]bool{
	"prerotate": true, "postrotate": true, "firstaction": true, "lastaction": true, "preremove": true,
}

// directive handles the option at the start of text. It returns what is
// left of the line and whether to go on reading it.
func (p *logrotateFileParser) directive(n int, text string) (rest string, more bool) {
	key, after := logrotateWord(text)
	o := p.current()
	if set, isFlag := logrotateFlags[key]; isFlag {
		if set != nil {
			set(o)
		}
		return after, true
	}
	if logrotateScripts[key] {
		if key == "postrotate" {
			o.PostRotate = true
		}
		p.script, p.scriptLine = true, n
		return "", false
	}
	if logrotateLineOptions[key] {
		return "", false
	}
	value := logrotateValue(after)
	switch key {
	case "size", "maxsize", "minsize":
		if value == "" {
			return "", false // logrotate ignores an empty size
		}
		size, err := parseLogrotateSize(value)
		if err != nil {
			p.valueError(n, "%v", err)
			return "", false
		}
		switch key {
		case "size":
			o.Criterion, o.Size = rotateBySize, size
		case "maxsize":
			o.MaxSize = size
		default:
			o.MinSize = size
		}
	case "weekly":
		o.Criterion = rotateWeekly
		// The rest of the line may only be a weekday 0-7 (7: every 7 days).
		if arg := strings.TrimRight(after, " \t\r"); strings.TrimSpace(arg) != "" {
			day, err := strconv.ParseUint(strings.TrimLeft(arg, " \t"), 10, 8)
			if err != nil || day > 7 {
				p.stop(n, "bad weekly directive '%s'", arg)
			}
		}
	case "rotate":
		if value == "" {
			p.valueError(n, "argument expected after rotate count")
			return "", false
		}
		count, err := parseLogrotateInt(value)
		if err != nil || count < -1 {
			p.valueError(n, "bad rotation count '%s'", value)
			return "", false
		}
		o.Rotate = count
	case "maxage":
		if value == "" {
			p.valueError(n, "argument expected after maxage count")
			return "", false
		}
		days, err := parseLogrotateInt(value)
		if err != nil || days < 0 {
			p.valueError(n, "bad maximum age '%s'", value)
			return "", false
		}
		o.MaxAge = uint64(days)
	case "include":
		if value == "" {
			p.valueError(n, "argument expected after include")
			return "", false
		}
		if !p.r.include(p.file, n, value, o, p.depth) {
			p.failed = true
		}
	case "tabooext", "taboopat":
		if p.block != nil {
			p.valueError(n, "%s may not appear inside of log file definition", key)
			return "", false
		}
		p.r.setTaboo(key, value)
	default:
		p.note(n, "unknown option '%s' -- ignoring line", key)
	}
	return "", false
}

// setTaboo applies tabooext/taboopat: a leading + adds to the list,
// otherwise the list is replaced.
func (r *logrotateReader) setTaboo(key, value string) {
	if rest, add := strings.CutPrefix(value, "+"); add {
		value = rest
	} else {
		r.taboo = nil
	}
	for _, item := range strings.FieldsFunc(value, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' }) {
		if key == "tabooext" {
			item = "*" + item
		}
		r.taboo = append(r.taboo, item)
	}
}

// logrotateValue isolates an option's value: blanks and an optional = are
// skipped, and the value runs to the end of the line.
func logrotateValue(after string) string {
	v := strings.TrimLeft(after, " \t")
	if rest, ok := strings.CutPrefix(v, "="); ok {
		v = strings.TrimLeft(rest, " \t")
	}
	return strings.TrimRight(v, " \t\r")
}

// parseLogrotateInt reads an integer as strtol(3) with base 0 does for a
// whole value: optional sign, 0x.. hex, 0.. octal.
func parseLogrotateInt(v string) (int64, error) {
	if strings.Contains(v, "_") { // Go's base-0 syntax allows 1_000; strtol does not
		return 0, fmt.Errorf("bad number %q", v)
	}
	return strconv.ParseInt(v, 0, 64)
}

// parseLogrotateSize reads a size as logrotate does: a number as strtoull(3)
// with base 0 reads it, optionally followed by k/K (KiB), M (MiB) or G (GiB).
func parseLogrotateSize(v string) (uint64, error) {
	mult := uint64(1)
	switch last := v[len(v)-1]; {
	case last == 'k' || last == 'K':
		mult = 1 << 10
	case last == 'M':
		mult = 1 << 20
	case last == 'G':
		mult = 1 << 30
	case !isASCIIDigit(last):
		return 0, fmt.Errorf("unknown unit '%c' (logrotate takes k, M or G)", last)
	}
	num := v
	if mult != 1 {
		num = v[:len(v)-1]
	}
	n, err := parseLogrotateInt(num)
	// logrotate stores the product in an off_t and rejects it when negative.
	if err != nil || n < 0 || uint64(n) > (1<<63-1)/mult {
		return 0, fmt.Errorf("bad size '%s'", num)
	}
	return uint64(n) * mult, nil
}

// splitLogrotatePatterns splits a block header into paths the way logrotate
// does (popt's poptParseArgvString): blanks separate words, '...' and "..."
// quote, a backslash outside quotes takes the next character literally and
// inside quotes only escapes the quote character. Empty words ("") are
// dropped, and a header with no word at all, or ending in a backslash, is an
// error (logrotate: "error parsing filename").
func splitLogrotatePatterns(header string) ([]string, error) {
	var words []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(header); i++ {
		c := header[i]
		switch {
		case quote != 0:
			switch {
			case c == quote:
				quote = 0
			case c == '\\' && i+1 < len(header) && header[i+1] == quote:
				i++
				cur.WriteByte(quote)
			default:
				cur.WriteByte(c)
			}
		case strings.IndexByte(" \t\n\v\f\r", c) >= 0: // isspace(3)
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '\\':
			if i+1 == len(header) {
				return nil, errors.New("backslash at the end of the file names")
			}
			i++
			cur.WriteByte(header[i])
		default:
			cur.WriteByte(c)
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, errors.New("no file names")
	}
	return words, nil
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isASCIIDigit(c byte) bool { return c >= '0' && c <= '9' }
