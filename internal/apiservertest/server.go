// Package apiservertest runs a real etcd and kube-apiserver on loopback for
// integration tests and benchmarks: free ports, a temp directory, a CA,
// client certificates and service-account keys generated in Go, RBAC and
// the default admission plugins (PodSecurity included). No controller
// manager, scheduler or kubelet runs: tests play those parts themselves.
// Every daemon is stopped by the PID it was started with.
package apiservertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Defaults for Options.
const (
	DefaultKubeBinDir = "/var/cache/kubectl-cadvisor-doctor/kubernetes/v1.37.2/bin"
	DefaultEtcd       = "/usr/bin/etcd"
)

// Options say which binaries to run and how.
type Options struct {
	// KubeBinDir holds kube-apiserver; default $KCD_KUBE_BIN or DefaultKubeBinDir.
	KubeBinDir string
	// Etcd is the etcd binary; default DefaultEtcd.
	Etcd string
	// Dir is where data, certificates and logs go; "" means a new temp dir
	// that Stop removes.
	Dir string
	// ExtraArgs are appended to kube-apiserver's command line.
	ExtraArgs []string
	// StartTimeout bounds the wait for readiness; default 60s.
	StartTimeout time.Duration
}

// Server is a running etcd + kube-apiserver pair.
type Server struct {
	// URL is the API server's https address on loopback.
	URL string
	// Dir holds data, certificates and the logs (etcd.log, kube-apiserver.log).
	Dir string

	ca         *ca
	admin      *rest.Config
	ownDir     bool
	etcd, kube *exec.Cmd
	etcdDone   chan struct{}
	kubeDone   chan struct{}
}

// KubeBinDir resolves the directory of the Kubernetes binaries.
func KubeBinDir() string {
	if d := os.Getenv("KCD_KUBE_BIN"); d != "" {
		return d
	}
	return DefaultKubeBinDir
}

// Available reports why the binaries cannot run here, or nil.
func Available(o Options) error {
	o = o.withDefaults()
	for _, p := range []string{filepath.Join(o.KubeBinDir, "kube-apiserver"), o.Etcd} {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("%s not available (run hack/build-kube.sh, apt-get install etcd-server): %w", p, err)
		}
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.KubeBinDir == "" {
		o.KubeBinDir = KubeBinDir()
	}
	if o.Etcd == "" {
		o.Etcd = DefaultEtcd
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 60 * time.Second
	}
	return o
}

// Start runs etcd and kube-apiserver and waits until the API server is
// ready. On error everything started is stopped again.
func Start(ctx context.Context, o Options) (_ *Server, err error) {
	o = o.withDefaults()
	if err := Available(o); err != nil {
		return nil, err
	}
	s := &Server{Dir: o.Dir}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "apiservertest-"); err != nil {
			return nil, err
		}
		s.ownDir = true
	}
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	if err := s.startEtcd(ctx, o.Etcd, ports[0], ports[1]); err != nil {
		return nil, err
	}
	if err := s.writeCerts(); err != nil {
		return nil, err
	}
	if err := s.startAPIServer(ctx, o, ports[0], ports[2]); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) startEtcd(ctx context.Context, bin string, client, peer int) error {
	cu := fmt.Sprintf("http://127.0.0.1:%d", client)
	pu := fmt.Sprintf("http://127.0.0.1:%d", peer)
	cmd, done, err := s.spawn(bin, "etcd.log",
		"--name", "default", "--data-dir", filepath.Join(s.Dir, "etcd"),
		"--listen-client-urls", cu, "--advertise-client-urls", cu,
		"--listen-peer-urls", pu, "--initial-advertise-peer-urls", pu,
		"--initial-cluster", "default="+pu, "--log-level", "warn",
	)
	if err != nil {
		return err
	}
	s.etcd, s.etcdDone = cmd, done
	return waitHTTP(ctx, http.DefaultClient, cu+"/health", done, "etcd", filepath.Join(s.Dir, "etcd.log"))
}

func (s *Server) writeCerts() error {
	var err error
	if s.ca, err = newCA(); err != nil {
		return err
	}
	cert, key, err := s.ca.issue("kube-apiserver", nil, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		return err
	}
	saKey, saPub, err := serviceAccountKey()
	if err != nil {
		return err
	}
	if s.admin, err = s.UserConfig("admin", "system:masters"); err != nil {
		return err
	}
	for name, b := range map[string][]byte{"ca.crt": s.ca.certPEM, "apiserver.crt": cert, "apiserver.key": key, "sa.key": saKey, "sa.pub": saPub} {
		if err := os.WriteFile(filepath.Join(s.Dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) startAPIServer(ctx context.Context, o Options, etcdPort, port int) error {
	p := func(n string) string { return filepath.Join(s.Dir, n) }
	args := []string{
		"--etcd-servers", fmt.Sprintf("http://127.0.0.1:%d", etcdPort),
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(port), "--cert-dir", p("certs"),
		"--tls-cert-file", p("apiserver.crt"), "--tls-private-key-file", p("apiserver.key"),
		"--client-ca-file", p("ca.crt"),
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", p("sa.pub"), "--service-account-signing-key-file", p("sa.key"),
		"--service-cluster-ip-range", "10.96.0.0/16",
		"--authorization-mode", "RBAC",
		// Privileged pods (the probe's) are refused unless allowed.
		"--allow-privileged=true",
		// No controller manager creates the "default" service accounts, so
		// the ServiceAccount admission would refuse every pod.
		"--disable-admission-plugins", "ServiceAccount",
		"--endpoint-reconciler-type", "none",
		"--profiling=false",
	}
	cmd, done, err := s.spawn(filepath.Join(o.KubeBinDir, "kube-apiserver"), "kube-apiserver.log", append(args, o.ExtraArgs...)...)
	if err != nil {
		return err
	}
	s.kube, s.kubeDone = cmd, done
	s.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	hc, err := rest.HTTPClientFor(s.AdminConfig())
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, hc, s.URL+"/readyz", done, "kube-apiserver", p("kube-apiserver.log")); err != nil {
		return err
	}
	return s.warmUp(ctx)
}

// warmUp waits until a pod watch started from a fresh list delivers an
// event. Right after start the watch cache lags etcd, and etcd 3.4 has no
// progress notifications to close the gap, so the first watches end in
// "Too large resource version" after 3s; tests should not pay that.
func (s *Server) warmUp(ctx context.Context) error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	for i := 0; ; i++ {
		if err := watchOnce(ctx, c, fmt.Sprintf("warm-up-%d", i)); err == nil {
			return nil
		} else if ctx.Err() != nil {
			return fmt.Errorf("pod watch never delivered an event: %w", err)
		}
	}
}

func watchOnce(ctx context.Context, c kubernetes.Interface, name string) error {
	pods := c.CoreV1().Pods(corev1.NamespaceDefault)
	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	w, err := pods.Watch(wctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		return err
	}
	defer w.Stop()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "warm-up"}}}}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return err
	}
	defer func() {
		_ = pods.Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	}()
	for ev := range w.ResultChan() {
		if ev.Type == watch.Added {
			return nil
		}
		if ev.Type == watch.Error {
			return fmt.Errorf("watch error: %v", ev.Object)
		}
	}
	return errors.New("watch closed without an event")
}

// spawn starts a daemon with its output in Dir/logName. Pdeathsig makes
// the kernel kill it should this process die without calling Stop.
func (s *Server) spawn(bin, logName string, args ...string) (*exec.Cmd, chan struct{}, error) {
	logf, err := os.Create(filepath.Join(s.Dir, logName))
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	return cmd, done, nil
}

func waitHTTP(ctx context.Context, hc *http.Client, url string, done <-chan struct{}, name, logPath string) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := hc.Do(req.WithContext(rctx))
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited during start; see %s", name, logPath)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w (see %s)", name, url, ctx.Err(), logPath)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop stops kube-apiserver, then etcd, each by its PID (SIGTERM, SIGKILL
// after 10s), and removes Dir if Start created it.
func (s *Server) Stop() error {
	var errs []error
	for _, p := range []struct {
		cmd  *exec.Cmd
		done chan struct{}
	}{{s.kube, s.kubeDone}, {s.etcd, s.etcdDone}} {
		if p.cmd == nil || p.cmd.Process == nil {
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if s.ownDir && s.Dir != "" {
		if err := os.RemoveAll(s.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Pids returns the PIDs of the running daemons (kube-apiserver, etcd).
func (s *Server) Pids() []int {
	var out []int
	for _, c := range []*exec.Cmd{s.kube, s.etcd} {
		if c != nil && c.Process != nil {
			out = append(out, c.Process.Pid)
		}
	}
	return out
}

// AdminConfig is a rest.Config for a system:masters user.
func (s *Server) AdminConfig() *rest.Config {
	c := rest.CopyConfig(s.admin)
	c.Host = s.URL
	return c
}

// UserConfig is a rest.Config authenticating as user in groups, by client
// certificate.
func (s *Server) UserConfig(user string, groups ...string) (*rest.Config, error) {
	cert, key, err := s.ca.issue(user, groups, nil)
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host:            s.URL,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.ca.certPEM, CertData: cert, KeyData: key},
		QPS:             100, Burst: 200, Timeout: 30 * time.Second,
	}, nil
}

// Client is a clientset for the admin user.
func (s *Server) Client() (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(s.AdminConfig())
}

// WriteKubeconfig writes a kubeconfig for user (in groups) to path, for
// tests that run the command line.
func (s *Server) WriteKubeconfig(path, user string, groups ...string) error {
	c, err := s.UserConfig(user, groups...)
	if err != nil {
		return err
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: c.CertData, ClientKeyData: c.KeyData}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: user}
	kc.CurrentContext = "test"
	return clientcmd.WriteToFile(*kc, path)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
