"""Object storage: sealed segments and snapshot manifests in an S3 bucket (boto3, imported
lazily). Knows keys, bytes and checksums; nothing about runs beyond their hashes."""
