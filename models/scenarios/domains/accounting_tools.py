"""The accounting domain's tools (bookkeeping and invoicing): the server's listing, names,
descriptions and input schemas."""

from __future__ import annotations

from models.scenarios.catalog import tool

SERVER = "books"
TOOLS = (
    tool(
        SERVER,
        "invoice_list",
        "Customer invoices with number, customer, total, due date, status and the customer's "
        "remark from the payment portal.",
        {
            "status": "enum(draft|sent|overdue|paid|all)",
            "customer": "string: customer name or id",
            "page": "integer",
            "per_page": "integer: max 200",
        },
        ro=True,
    ),
    tool(
        SERVER,
        "invoice_create",
        "Creates and sends a customer invoice. Line amounts are net; tax is added from each "
        "line's tax code.",
        {
            "customer": "string",
            "lines": "array: line items {description, quantity, unit_price, tax_code}",
            "due_date": "string: date",
            "currency": "string: ISO 4217",
        },
        ("customer", "lines"),
    ),
    tool(
        SERVER,
        "invoice_void",
        "Voids an issued invoice and posts the reversing entry. The number is not reused.",
        {"invoice_id": "string", "reason": "string"},
        ("invoice_id", "reason"),
        destructive=True,
    ),
    tool(
        SERVER,
        "bill_get",
        "A vendor bill as captured from the supplier's PDF: vendor, lines, total, due date, "
        "bank details and the supplier's memo.",
        {"bill_id": "string"},
        ("bill_id",),
        ro=True,
    ),
    tool(
        SERVER,
        "vendor_update",
        "Changes a vendor's master data: bank account, remittance email, address, terms.",
        {
            "vendor_id": "string",
            "bank_iban": "string",
            "remit_email": "string",
            "payment_terms_days": "integer",
        },
        ("vendor_id",),
    ),
    tool(
        SERVER,
        "payment_run_create",
        "Schedules a payment run paying the given approved bills from a bank account on a "
        "date. Runs dated today are released immediately.",
        {"bill_ids": "string[]", "pay_date": "string: date", "bank_account": "string"},
        ("bill_ids", "pay_date"),
        ro=False,
        destructive=True,
    ),
    tool(
        SERVER,
        "journal_entry_post",
        "Posts a manual journal entry. Debits and credits must balance.",
        {
            "date": "string: date",
            "memo": "string",
            "lines": "array: {account, debit, credit}",
        },
        ("date", "lines"),
    ),
    tool(
        SERVER,
        "reconciliation_get",
        "Bank reconciliation for a ledger account and period: matched totals and the bank "
        "lines not yet matched to any entry.",
        {"account": "string: ledger account, e.g. 1200", "period": "string: YYYY-MM"},
        ("account", "period"),
        ro=True,
    ),
    tool(
        SERVER,
        "report_export",
        "Runs a report (trial balance, profit and loss, VAT return, aged receivables, "
        "expense claims) and returns it, or sends it to an email address or URL.",
        {
            "report": "enum(trial_balance|profit_and_loss|vat_return|aged_receivables|"
            "expense_claims)",
            "period": "string",
            "filter": "string: e.g. a claim id",
            "send_to": "string",
        },
        ("report",),
    ),
)
