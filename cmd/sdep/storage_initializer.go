package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sdep-dev/sdep/internal/storage"
)

func init() { addCommand(newStorageInitializerCommand()) }

func newStorageInitializerCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "storage-initializer URI DIR",
		Short: "Copy a modelUri into a directory (the storage initializer init container)",
		Long: `Copy a modelUri into DIR, as the storage initializer init container does
before a prepackaged model server starts: the operator runs it with the
node's modelUri and /mnt/models.

URI is a path, file://PATH, s3://BUCKET/PATH, gs://BUCKET/PATH, or an rclone
remote NAME:BUCKET/PATH whose RCLONE_CONFIG_<NAME>_TYPE is s3 or google cloud
storage. A PATH naming a directory copies its tree; one naming an object
copies that object into DIR.

Credentials and endpoints come from the environment (the envSecretRefName
secret arrives as envFrom): AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS_ENDPOINT_URL or S3_ENDPOINT (with S3_USE_HTTPS=0 for
http), AWS_REGION, S3_VERIFY_SSL=0, RCLONE_CONFIG_<NAME>_ACCESS_KEY_ID /
_SECRET_ACCESS_KEY / _ENDPOINT / _REGION; GOOGLE_APPLICATION_CREDENTIALS,
RCLONE_CONFIG_<NAME>_SERVICE_ACCOUNT_FILE / _SERVICE_ACCOUNT_CREDENTIALS /
_ENDPOINT, STORAGE_EMULATOR_HOST. Without credentials, access is anonymous.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return storage.Download(ctx, args[0], args[1], storage.Options{})
		},
	}
}
