"""Notifiers: a `LeadStageChanged` event becomes a Slack message, an email or a signed CRM webhook;
a `LeadTriggered` one (with `ALERT_TRIGGERS`) a Slack message or an email (`alert.TriggerAlert`).

`deliver.notify(channel, event, context)` is what each notifier function calls;
`alert.Alert` is what every channel says; `slack` and `crm` send it, `mail` writes the email
that `adapters.alerts` sends through SES.
"""
