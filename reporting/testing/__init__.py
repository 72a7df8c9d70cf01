"""Real servers to test deliveries and reports against, shipped for users' own tests too.

Each runs on 127.0.0.1, port 0, in a background thread, and is a context manager that releases its
socket and thread on exit:

* ``webhook_receiver.WebhookReceiver``: records requests and checks their signatures.
* ``pagerduty_receiver.PagerDutyReceiver``: a fake PagerDuty Events v2 endpoint that enforces the
  schema.
* ``smtp_sink.SmtpSink``: an aiosmtpd server (plain, STARTTLS or implicit TLS, optional AUTH).
* ``fake_cybertipline.FakeCyberTipline``: NCMEC's reporting flow with its response codes.

The HTTP fakes also inject failures: ``fail_next(n, status, after_commit=...)`` and
``hang_next(n, seconds)``.

Modules are imported one by one (nothing here is imported eagerly), so using one fake never pulls
in another's dependencies.
"""
