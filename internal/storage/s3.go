package storage

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 settings are read, first match wins, from:
//
//	endpoint: AWS_ENDPOINT_URL (a URL), RCLONE_CONFIG_<REMOTE>_ENDPOINT,
//	          S3_ENDPOINT (host[:port] or URL; S3_USE_HTTPS=0 means http);
//	          default s3.amazonaws.com over https
//	keys:     AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
//	          RCLONE_CONFIG_<REMOTE>_ACCESS_KEY_ID / _SECRET_ACCESS_KEY / _SESSION_TOKEN,
//	          else the shared credentials file (AWS_SHARED_CREDENTIALS_FILE,
//	          ~/.aws/credentials, profile AWS_PROFILE), else anonymous
//	region:   AWS_REGION, AWS_DEFAULT_REGION, RCLONE_CONFIG_<REMOTE>_REGION
//	TLS:      S3_VERIFY_SSL=0 skips certificate verification
//
// <REMOTE> is the rclone remote of a NAME:bucket URI, and S3 for s3:// URIs
// (upstream's examples configure a remote named s3).
type s3Remote struct {
	c   *minio.Client
	src Source
}

func rcloneKey(src Source, key string) string {
	name := src.Remote
	if name == "" {
		name = "s3"
	}
	return "RCLONE_CONFIG_" + strings.ToUpper(name) + "_" + key
}

func newS3(src Source, o Options) (*s3Remote, error) {
	endpoint := o.first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", rcloneKey(src, "ENDPOINT"), "S3_ENDPOINT")
	secure := true
	host := "s3.amazonaws.com"
	if endpoint != "" {
		if !strings.Contains(endpoint, "://") {
			scheme := "https"
			if o.get("S3_USE_HTTPS") == "0" {
				scheme = "http"
			}
			endpoint = scheme + "://" + endpoint
		}
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("S3 endpoint %q is not a URL like http://host:9000 (set AWS_ENDPOINT_URL or S3_ENDPOINT)", endpoint)
		}
		if u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf("S3 endpoint %q has a path; give the bucket in the modelUri instead", endpoint)
		}
		host, secure = u.Host, u.Scheme == "https"
	}
	id := o.first("AWS_ACCESS_KEY_ID", rcloneKey(src, "ACCESS_KEY_ID"))
	secret := o.first("AWS_SECRET_ACCESS_KEY", rcloneKey(src, "SECRET_ACCESS_KEY"))
	token := o.first("AWS_SESSION_TOKEN", rcloneKey(src, "SESSION_TOKEN"))
	if (id == "") != (secret == "") {
		return nil, errors.New("S3 credentials incomplete: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or neither for anonymous access)")
	}
	creds := credentials.NewStaticV4(id, secret, token)
	if id == "" {
		file := o.get("AWS_SHARED_CREDENTIALS_FILE")
		if file == "" {
			if home, err := os.UserHomeDir(); err == nil {
				file = filepath.Join(home, ".aws", "credentials")
			}
		}
		if _, err := os.Stat(file); err == nil && file != "" {
			creds = credentials.NewFileAWSCredentials(file, o.get("AWS_PROFILE"))
		}
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	if o.get("S3_VERIFY_SSL") == "0" {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // asked for with S3_VERIFY_SSL=0
	}
	c, err := minio.New(host, &minio.Options{
		Creds:     creds,
		Secure:    secure,
		Region:    o.first("AWS_REGION", "AWS_DEFAULT_REGION", rcloneKey(src, "REGION")),
		Transport: tr,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 client for %s: %w", host, err)
	}
	return &s3Remote{c: c, src: src}, nil
}

func (r *s3Remote) list(ctx context.Context) ([]object, error) {
	prefix := r.src.Path
	var out []object
	lp := prefix
	if lp != "" {
		lp += "/"
	}
	for info := range r.c.ListObjects(ctx, r.src.Bucket, minio.ListObjectsOptions{Prefix: lp, Recursive: true}) {
		if info.Err != nil {
			return nil, s3Hint(info.Err)
		}
		if strings.HasSuffix(info.Key, "/") {
			continue // a "directory" marker object
		}
		out = append(out, object{key: info.Key, rel: strings.TrimPrefix(info.Key, lp), size: info.Size})
	}
	if len(out) > 0 || prefix == "" {
		return out, nil
	}
	st, err := r.c.StatObject(ctx, r.src.Bucket, prefix, minio.StatObjectOptions{})
	if err != nil {
		var er minio.ErrorResponse
		if errors.As(err, &er) && er.StatusCode == http.StatusNotFound {
			return nil, nil
		}
		return nil, s3Hint(err)
	}
	return []object{{key: prefix, rel: prefix[strings.LastIndexByte(prefix, '/')+1:], size: st.Size}}, nil
}

func (r *s3Remote) open(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := r.c.GetObject(ctx, r.src.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Hint(err)
	}
	return obj, nil
}

// s3Hint adds what to check to the errors users can fix.
func s3Hint(err error) error {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch er.Code {
		case "NoSuchBucket":
			return fmt.Errorf("%w (check the bucket name in modelUri)", err)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return fmt.Errorf("%w (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the envSecretRefName secret)", err)
		}
	}
	return err
}
