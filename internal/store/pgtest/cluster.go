package pgtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Cluster is a throwaway PostgreSQL server that this process started and
// owns: tests may stop and start it, unlike a shared server.
type Cluster struct {
	dir  string // holds data/, the log and the socket
	bin  string // the directory of initdb and pg_ctl
	port int
	// owner, when not nil, is the OS user the server runs as (postgres, when
	// the tests run as root).
	owner *user.User

	watchdog *exec.Cmd

	mu  sync.Mutex
	srv *server
}

// StartCluster starts a new cluster for t, which stops and deletes it at the
// end. Without the server binaries the test is skipped (failed under CI).
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := startCluster()
	if err != nil {
		unavailable(t, fmt.Errorf("cannot start a throwaway cluster: %w", err))
	}
	t.Cleanup(c.destroy)
	return c
}

// URL is the URL of a database of the cluster, as the superuser postgres.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, database)
}

// NewDatabase is the package's NewDatabase on this cluster.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	s, err := c.server()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s.newDatabase(t)
}

func (c *Cluster) server() (*server, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv == nil {
		s, err := connect(c.URL("postgres"), c)
		if err != nil {
			return nil, err
		}
		c.srv = s
	}
	return c.srv, nil
}

// Stop stops the server the way an operator would (pg_ctl stop -m fast):
// sessions are ended, connections refused until Start.
func (c *Cluster) Stop() error { return c.pgctl("stop", "-m", "fast") }

// Start starts the server again, on the same port, and waits until it
// accepts connections.
func (c *Cluster) Start() error {
	return c.pgctl("start", "-l", filepath.Join(c.dir, "log"), "-t", "60")
}

func (c *Cluster) pgctl(args ...string) error {
	args = append([]string{"-D", filepath.Join(c.dir, "data"), "-w"}, args...)
	out, err := c.command(filepath.Join(c.bin, "pg_ctl"), args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v: %s", args[3], err, out)
	}
	return nil
}

// command runs a server binary as the cluster's owner.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	if c.owner == nil {
		return exec.Command(name, args...)
	}
	if runuser, err := exec.LookPath("runuser"); err == nil {
		return exec.Command(runuser, append([]string{"-u", c.owner.Username, "--", name}, args...)...)
	}
	words := []string{quote(name)}
	for _, a := range args {
		words = append(words, quote(a))
	}
	return exec.Command("su", c.owner.Username, "-s", "/bin/sh", "-c", strings.Join(words, " "))
}

// destroy stops the server at once and deletes its files.
func (c *Cluster) destroy() {
	c.mu.Lock()
	if c.srv != nil {
		c.srv.admin.Close()
	}
	c.mu.Unlock()
	_ = c.pgctl("stop", "-m", "immediate")
	if c.watchdog != nil {
		_ = c.watchdog.Process.Kill()
		_ = c.watchdog.Wait()
	}
	_ = os.RemoveAll(c.dir)
}

func startCluster() (_ *Cluster, err error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root.
		if c.owner, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root, and no postgres user to run initdb as: %w", err)
		}
	}
	if c.dir, err = os.MkdirTemp("", "otpgate-pg-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.destroy()
		}
	}()
	if c.owner != nil {
		uid, _ := strconv.Atoi(c.owner.Uid)
		gid, _ := strconv.Atoi(c.owner.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if err := c.startWatchdog(); err != nil {
		return nil, err
	}
	data := filepath.Join(c.dir, "data")
	out, err := c.command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	// Settings for a disposable server: fast, nothing durable. The file is
	// appended to, so it keeps its owner; the last port line wins.
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = %s\n"+
		"fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n", quote(c.dir))
	for attempt := 0; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
		if err := appendFile(filepath.Join(data, "postgresql.conf"), conf+fmt.Sprintf("port = %d\n", c.port)); err != nil {
			return nil, err
		}
		conf = ""
		if err = c.Start(); err == nil || attempt == 2 {
			break
		}
		// Probably someone took the port meanwhile: another one.
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// startWatchdog starts a process that stops the server and deletes its files
// once this process is gone, however it ends. It runs in a session of its own,
// so that an interrupt of the test run does not reach it, and with no output,
// so that go test does not wait for it.
func (c *Cluster) startWatchdog() error {
	stop := c.command(filepath.Join(c.bin, "pg_ctl"), "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "stop")
	words := make([]string, len(stop.Args))
	for i, a := range stop.Args {
		words[i] = quote(a)
	}
	script := fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 1; done; %s >/dev/null 2>&1; rm -rf %s",
		os.Getpid(), strings.Join(words, " "), quote(c.dir))
	c.watchdog = exec.Command("/bin/sh", "-c", script)
	c.watchdog.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return c.watchdog.Start()
}

// findBinaries returns the directory of initdb and pg_ctl: the newest
// /usr/lib/postgresql/N/bin, else the one of initdb on PATH.
func findBinaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb) in /usr/lib/postgresql/*/bin or on PATH")
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
