#!/usr/bin/env python3
"""make_config.py OUT PROVIDER_PORT LISTEN_PORT RPM TPM [EXTRA_JSON] [REDIS_URL]

The gateway's configuration for bench/foreign_hold.sh: one OpenAI-flavoured
provider with nothing but the limits page's figures (rpm, tpm) for
gpt-4o-mini, one key (FOREIGN_API_KEY), one gateway token
(GATEWAY_TOKEN_FOREIGN); EXTRA_JSON is merged into the provider.
"""
import json
import sys

out, pport, lport, rpm, tpm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
extra = json.loads(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[6] else {}
redis = sys.argv[7] if len(sys.argv) > 7 else None
provider = {"name": "foreign", "flavor": "openai", "base_url": f"http://127.0.0.1:{pport}",
            "models": {"gpt-4o-mini": {"limits": {"rpm": rpm, "tpm": tpm}}},
            "keys": [{"name": "k1", "env": "FOREIGN_API_KEY"}]}
provider.update(extra)
config = {"providers": [provider],
          "gateway": {"listen": f"127.0.0.1:{lport}", "tokens": [{"name": "foreign", "token_env": "GATEWAY_TOKEN_FOREIGN"}]}}
if redis:
    config["shared"] = {"redis": redis, "namespace": "foreign"}
with open(out, "w") as f:
    json.dump(config, f, indent=1)
