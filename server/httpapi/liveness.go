package httpapi

import "net/http"

// LivenessPath answers 200 without a token so container engines and load
// balancers can probe the server (Dockerfile HEALTHCHECK). It says only that
// the process serves HTTP: no version, model, device or load, which stay
// behind auth on /v1/health and /metrics.
const LivenessPath = "/healthz"

func handleLiveness(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte("ok\n"))
	}
}
