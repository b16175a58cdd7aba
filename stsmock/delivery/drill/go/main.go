// The minio-go drill client: calls continuously, one JSON line per call (as pyclient.py).
//
// minio-go has no default chain, so the provider that matches the pattern is named here (and in
// the drill's report), reading the environment the drill gives it: IAM for web identity,
// the container endpoint and IMDS; FileAWSCredentials for the credentials file and for
// credential_process (the same config file the other clients read); EnvAWS for static keys.
// Its refresh rule is its own: 80 % of the lifetime (DefaultExpiryWindow).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"
)

func provider(pattern string) *credentials.Credentials {
	switch pattern {
	case "web-identity": // without an endpoint IAM would call a real STS
		return credentials.NewIAM(os.Getenv("AWS_ENDPOINT_URL_STS"))
	case "imds":
		return credentials.NewIAM(strings.TrimRight(os.Getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT"), "/"))
	case "container":
		return credentials.NewIAM("")
	case "credentials-file":
		return credentials.NewFileAWSCredentials("", "")
	case "credential-process": // the [profile NAME] section of the AWS config file
		return credentials.NewFileAWSCredentials(os.Getenv("AWS_CONFIG_FILE"), "profile "+os.Getenv("AWS_PROFILE"))
	case "static":
		return credentials.NewEnvAWS()
	}
	fmt.Fprintf(os.Stderr, "minio-go has no provider for %s\n", pattern)
	os.Exit(2)
	return nil
}

type call func(ctx context.Context) (string, error)

func s3Call(creds *credentials.Credentials) (call, error) {
	u, err := url.Parse(os.Getenv("AWS_ENDPOINT_URL_S3"))
	if err != nil {
		return nil, err
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds: creds, Secure: u.Scheme == "https", Region: os.Getenv("AWS_REGION"), BucketLookup: minio.BucketLookupPath,
		MaxRetries: 1,
	})
	if err != nil {
		return nil, err
	}
	bucket := os.Getenv("STSMOCK_DRILL_BUCKET")
	return func(ctx context.Context) (string, error) {
		if _, err := client.BucketExists(ctx, bucket); err != nil {
			return "", err
		}
		v, err := creds.GetWithContext(nil)
		return v.AccessKeyID, err
	}, nil
}

// stsError is the STS's own error code (the report counts failures by code).
type stsError string

func (e stsError) Error() string { return string(e) }

var stsCode = regexp.MustCompile(`<Code>([^<]+)</Code>`)

// stsCall signs STS GetCallerIdentity with minio-go's own SigV4 signer and the credentials its provider holds.
func stsCall(creds *credentials.Credentials) call {
	endpoint := strings.TrimRight(os.Getenv("AWS_ENDPOINT_URL_STS"), "/") + "/" // canonical URI "/"
	region := os.Getenv("AWS_REGION")
	body := []byte("Action=GetCallerIdentity&Version=2011-06-15")
	sum := sha256.Sum256(body)
	return func(ctx context.Context) (string, error) {
		v, err := creds.GetWithContext(nil)
		if err != nil {
			return "", err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
		if v.SessionToken != "" {
			req.Header.Set("X-Amz-Security-Token", v.SessionToken)
		}
		signed := signer.SignV4STS(*req, v.AccessKeyID, v.SecretAccessKey, region)
		resp, err := http.DefaultClient.Do(signed)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		text, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			if m := stsCode.FindSubmatch(text); m != nil {
				return "", stsError(m[1])
			}
			return "", stsError(fmt.Sprintf("HTTP%d", resp.StatusCode))
		}
		return v.AccessKeyID, nil
	}
}

func code(err error) string {
	var sts stsError
	if errors.As(err, &sts) {
		return string(sts)
	}
	if r := minio.ToErrorResponse(err); r.Code != "" {
		return string(r.Code)
	}
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return "error: " + msg
}

func main() {
	pattern := flag.String("pattern", "", "delivery pattern")
	target := flag.String("target", "sts", "sts or s3")
	seconds := flag.Float64("seconds", 60, "how long to call")
	interval := flag.Float64("interval", 0.5, "seconds between calls")
	minCalls := flag.Int("min-calls", 0, "keep going past --seconds until this many calls")
	flag.Parse()
	creds := provider(*pattern)
	var do call
	if *target == "s3" {
		var err error
		if do, err = s3Call(creds); err != nil {
			os.Exit(2)
		}
	} else {
		do = stsCall(creds)
	}
	span := time.Duration(*seconds * float64(time.Second))
	end := time.Now().Add(span)
	hardEnd := end.Add(4 * span) // a slow machine may stretch a run, never without bound
	out := json.NewEncoder(os.Stdout)
	for calls := 0; time.Now().Before(end) || (calls < *minCalls && time.Now().Before(hardEnd)); calls++ {
		started := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		key, err := do(ctx)
		cancel()
		line := map[string]any{"t": float64(time.Now().UnixMilli()) / 1000, "ok": err == nil, "key": nil, "error": nil,
			"ms": time.Since(started).Milliseconds()}
		if err == nil {
			line["key"] = key
		} else {
			line["error"] = code(err)
		}
		_ = out.Encode(line)
		time.Sleep(time.Duration(*interval*float64(time.Second)) - time.Since(started))
	}
}
