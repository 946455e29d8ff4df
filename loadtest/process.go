package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one child: the simulator, a serve instance or a CLI command.
// Its standard output and error go to a log file in the work directory;
// the addresses it announces on standard output are picked up from there.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	exited  chan struct{} // closed when the process has been waited for

	mu         sync.Mutex
	url        string // "… running: http://…" in the banner
	metricsURL string // "  metrics: http://…" in the banner
	announced  chan struct{}
	err        error // from Wait
}

var (
	runningRe = regexp.MustCompile(`running: (http://\S+)`)
	metricsRe = regexp.MustCompile(`^\s*metrics: (http://\S+)/metrics`)
)

// startProcess starts opts.Command with args and env, logging to logPath.
func startProcess(opts *Options, name string, args, env []string, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	argv := append(append([]string(nil), opts.Command[1:]...), args...)
	cmd := exec.Command(opts.Command[0], argv...)
	cmd.Env = env
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{}), announced: make(chan struct{})}
	fmt.Fprintf(logf, "---- %s: %s %s\n", time.Now().Format(time.RFC3339Nano), name, strings.Join(args, " "))
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		p.scan(stdout, logf)
	}()
	go func() {
		<-readDone // Wait closes the pipe: read it to the end first
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// scan copies the child's standard output to its log, noting the
// addresses the banner announces.
func (p *process) scan(r io.Reader, logf io.Writer) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(logf, line)
		p.mu.Lock()
		if m := runningRe.FindStringSubmatch(line); m != nil && p.url == "" {
			p.url = m[1]
		}
		if m := metricsRe.FindStringSubmatch(line); m != nil {
			p.metricsURL = m[1]
		}
		// The banner is printed at once, listener already open: the
		// metrics line, if any, follows the first one immediately.
		if p.url != "" {
			select {
			case <-p.announced:
			default:
				close(p.announced)
			}
		}
		p.mu.Unlock()
	}
	_, _ = io.Copy(logf, r)
}

// waitReady waits for the banner, then for the announced URL + health to
// answer 200 (health "" skips that).
func (p *process) waitReady(ctx context.Context, health string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case <-p.announced:
	case <-p.exited:
		return fmt.Errorf("%s exited before it was ready (%v); see %s:\n%s", p.name, p.waitErr(), p.logPath, p.logTail(20))
	case <-ctx.Done():
		return fmt.Errorf("%s not ready after %v; see %s:\n%s", p.name, timeout, p.logPath, p.logTail(20))
	}
	if health == "" {
		return nil
	}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+health, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s did not answer 200 within %v", p.name, health, timeout)
		case <-p.exited:
			return fmt.Errorf("%s exited (%v); see %s", p.name, p.waitErr(), p.logPath)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (p *process) URL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.url
}

func (p *process) MetricsURL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.metricsURL
}

func (p *process) waitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop asks the process to shut down (SIGTERM) and kills it if it has not
// within timeout.
func (p *process) stop(timeout time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.kill()
	}
}

// rss is the process's resident set size in bytes (VmRSS).
func (p *process) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// logTail returns the last n lines of the process's log.
func (p *process) logTail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// problems scans the process's log for what must never happen in a child:
// a data race (when built with -race) or a panic.
func (p *process) problems() []string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return nil
	}
	var out []string
	if n := bytes.Count(b, []byte("WARNING: DATA RACE")); n > 0 {
		out = append(out, fmt.Sprintf("%s: %d data race(s) reported; see %s", p.name, n, p.logPath))
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
			out = append(out, fmt.Sprintf("%s: %s; see %s", p.name, line, p.logPath))
			break
		}
	}
	return out
}
