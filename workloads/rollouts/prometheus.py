"""A small client of Prometheus's HTTP API (``/api/v1/query``): one instant query, one number."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request

from workloads.rollouts.errors import RolloutError


class Prometheus:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def query(self, expr: str) -> float | None:
        """The value of a query that yields at most one sample; None when it yields none (no data, or
        a ratio of zero requests) or NaN."""
        data = urllib.parse.urlencode({"query": expr}).encode()
        request = urllib.request.Request(f"{self.url}/api/v1/query", data=data, method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                doc = json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 400/422: a bad query, with Prometheus's own reason
            try:
                reason = json.loads(exc.read()).get("error", exc.reason)
            except ValueError:
                reason = exc.reason
            raise RolloutError(f"prometheus at {self.url} refused the query: {reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RolloutError(f"prometheus at {self.url} is unreachable: {reason}") from None
        if doc.get("status") != "success":
            raise RolloutError(f"prometheus at {self.url}: {doc.get('error', 'query failed')}")
        result = doc["data"]["result"]
        if doc["data"]["resultType"] == "scalar":
            value = float(result[1])
        elif not result:
            return None
        elif len(result) > 1:
            raise RolloutError(f"the query returned {len(result)} series, expected one: {expr}")
        else:
            value = float(result[0]["value"][1])
        return None if math.isnan(value) else value
