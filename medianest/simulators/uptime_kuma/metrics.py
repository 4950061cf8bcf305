"""Uptime Kuma's ``/metrics`` Prometheus text in the simulator, for 1.23 and 2.x."""

from __future__ import annotations

import time

from medianest.simulators.fixtures import KUMA_VERSIONS
from medianest.simulators.uptime_kuma.model import _prom_label, _prom_value, _tag_label_name
from medianest.simulators.uptime_kuma.state import KumaState


class KumaMetrics(KumaState):
    """``metrics_text``."""

    def metrics_text(self) -> str:
        """The Prometheus text of ``/metrics`` for the current version."""
        with self._lock:
            v2 = self.version == "2.x"
            uptime_s = time.time() - self.started_at
            release = KUMA_VERSIONS[self.version]
            major, minor, patch = (release.split(".") + ["0", "0"])[:3]
            lines = [
                "# HELP process_cpu_user_seconds_total Total user CPU time spent in seconds.",
                "# TYPE process_cpu_user_seconds_total counter",
                f"process_cpu_user_seconds_total {round(3.2 + uptime_s / 1000, 6)}",
                "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
                "# TYPE process_start_time_seconds gauge",
                f"process_start_time_seconds {int(self.started_at)}",
                "# HELP nodejs_eventloop_lag_seconds Lag of event loop in seconds.",
                "# TYPE nodejs_eventloop_lag_seconds gauge",
                "nodejs_eventloop_lag_seconds 0.004216",
                "",
                # prometheus-api-metrics (Kuma's /metrics middleware) adds Kuma's package.json version.
                "# HELP app_version The service version by package.json",
                "# TYPE app_version gauge",
                f'app_version{{version="{release}",major="{major}",minor="{minor}",patch="{patch}"}} 1',
                "",
            ]
            gauges: dict[str, list[str]] = {name: [] for name in (
                "monitor_cert_days_remaining", "monitor_cert_is_valid", "monitor_response_time", "monitor_status",
                "monitor_uptime_ratio", "monitor_response_time_seconds")}
            for monitor in self.monitors.values():
                last = monitor.last
                if not monitor.active or last is None:
                    continue
                labels = [("monitor_name", monitor.name), ("monitor_type", monitor.type),
                          ("monitor_url", monitor.url), ("monitor_hostname", monitor.hostname),
                          ("monitor_port", monitor.port)]
                if v2:
                    labels.insert(0, ("monitor_id", monitor.id))
                    labels += [(_tag_label_name(name), value) for name, value in monitor.tags]
                rendered = ",".join(f'{k}="{_prom_label(v)}"' for k, v in labels)
                if monitor.cert_days_remaining is not None:
                    gauges["monitor_cert_days_remaining"].append(
                        f"monitor_cert_days_remaining{{{rendered}}} {monitor.cert_days_remaining}")
                    gauges["monitor_cert_is_valid"].append(f"monitor_cert_is_valid{{{rendered}}} 1")
                ping = -1 if last.ping is None else last.ping
                gauges["monitor_response_time"].append(f"monitor_response_time{{{rendered}}} {_prom_value(ping)}")
                gauges["monitor_status"].append(f"monitor_status{{{rendered}}} {last.status}")
                if v2:
                    for window, hours in (("1d", 24), ("30d", 720), ("365d", 365 * 24)):
                        gauges["monitor_uptime_ratio"].append(
                            f'monitor_uptime_ratio{{{rendered},window="{window}"}} '
                            f"{_prom_value(round(self.uptime(monitor, hours), 6))}")
                        avg = self.avg_ping(monitor, hours)
                        gauges["monitor_response_time_seconds"].append(
                            f'monitor_response_time_seconds{{{rendered},window="{window}"}} '
                            f"{_prom_value(round((avg or 0) / 1000, 6))}")
            helps = {
                "monitor_cert_days_remaining": "The number of days remaining until the certificate expires",
                "monitor_cert_is_valid": "Is the certificate still valid? (1 = Yes, 0= No)",
                "monitor_response_time": "Monitor Response Time (ms)",
                "monitor_status": "Monitor Status (1 = UP, 0= DOWN, 2= PENDING, 3= MAINTENANCE)",
                "monitor_uptime_ratio": "Uptime ratio of the monitor over a time window (0-1)",
                "monitor_response_time_seconds": "Average response time of the monitor over a time window (s)",
            }
            for name, samples in gauges.items():
                if name in ("monitor_uptime_ratio", "monitor_response_time_seconds") and not v2:
                    continue
                lines += [f"# HELP {name} {helps[name]}", f"# TYPE {name} gauge", *samples, ""]
            lines += [
                "# HELP http_request_duration_seconds Duration of HTTP requests in seconds",
                "# TYPE http_request_duration_seconds histogram",
                'http_request_duration_seconds_bucket{le="0.1",route="/metrics",method="GET",status="200"} 3',
                'http_request_duration_seconds_bucket{le="+Inf",route="/metrics",method="GET",status="200"} 3',
                'http_request_duration_seconds_sum{route="/metrics",method="GET",status="200"} 0.021',
                'http_request_duration_seconds_count{route="/metrics",method="GET",status="200"} 3',
                "",
            ]
            return "\n".join(lines)
