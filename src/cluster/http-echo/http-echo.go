// http-echo is the workload image of the tests (src/cluster/images.ts builds it with CGO off into a static binary).
// On :8080 (or $PORT) it answers GET / with the pod's hostname, GET /dns?name=X with the addresses X resolves to
// through the pod's resolver (/etc/resolv.conf: CoreDNS), and GET /get?url=U with the status and body of U, so a
// test can check Services, DNS and pod-to-pod traffic from inside a pod without any other tool.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		hostname, _ := os.Hostname()
		fmt.Fprintln(w, hostname)
	})
	http.HandleFunc("/dns", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		addresses, err := net.DefaultResolver.LookupHost(ctx, r.URL.Query().Get("name"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintln(w, strings.Join(addresses, "\n"))
	})
	// A new connection per request: a Service then spreads the requests over its endpoints.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	http.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		response, err := client.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer response.Body.Close()
		w.WriteHeader(response.StatusCode)
		io.Copy(w, response.Body)
	})
	server := &http.Server{Addr: ":" + port, ReadHeaderTimeout: 5 * time.Second}
	if err := server.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
