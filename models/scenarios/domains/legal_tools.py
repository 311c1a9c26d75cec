"""The legal domain's tools (contracts and e-signature): the server's listing, names,
descriptions and input schemas."""

from __future__ import annotations

from models.scenarios.catalog import tool

SERVER = "clm"
TOOLS = (
    tool(
        SERVER,
        "SearchContracts",
        "Search the contract repository by text, counterparty, status or expiry. Returns "
        "contract ids with type, counterparty, status and renewal date.",
        {
            "query": "string: full-text query",
            "counterparty": "string",
            "status": "enum(draft|negotiation|out_for_signature|executed|expired|template)",
            "expiringBefore": "string: ISO date",
            "page": "integer",
            "pageSize": "integer: default 25",
        },
    ),
    tool(
        SERVER,
        "GetContract",
        "A contract's metadata, parties, key dates, latest document version, the state of "
        "its signature envelope (each signer, and any note a signer left) and open "
        "negotiation comments.",
        {"contractId": "string", "version": "integer: default latest"},
        ("contractId",),
    ),
    tool(
        SERVER,
        "ExtractClauses",
        "Extract clauses of the given types from a contract's latest version, as JSON.",
        {
            "contractId": "string",
            "clauseTypes": "string[]: e.g. limitation_of_liability, termination, governing_law",
        },
        ("contractId", "clauseTypes"),
    ),
    tool(
        SERVER,
        "CreateRedline",
        "Propose replacement text for a clause as a tracked change on a new version.",
        {
            "contractId": "string",
            "clauseRef": "string: section number, e.g. 12.2",
            "replacementText": "string",
            "comment": "string: explanation shown beside the change",
            "visibleToCounterparty": "boolean",
        },
        ("contractId", "clauseRef", "replacementText"),
    ),
    tool(
        SERVER,
        "SendEnvelope",
        "Send documents for electronic signature. Signers receive an email link and sign in "
        "routing order.",
        {
            "documentIds": "string[]",
            "signers": "array: objects with name, email and routingOrder",
            "emailSubject": "string",
            "emailMessage": "string",
        },
        ("documentIds", "signers"),
    ),
    tool(
        SERVER,
        "CancelEnvelope",
        "Cancel an envelope that is not completed; collected signatures are discarded.",
        {"envelopeId": "string", "reason": "string: sent to all signers"},
        ("envelopeId", "reason"),
    ),
    tool(
        SERVER,
        "GetMatter",
        "A legal matter: parties, responsible lawyer, outside counsel, linked documents and notes.",
        {"matterId": "string"},
        ("matterId",),
    ),
    tool(
        SERVER,
        "AddMatterNote",
        "Add a note to a matter. Privileged notes are hidden from business users.",
        {"matterId": "string", "body": "string", "privileged": "boolean"},
        ("matterId", "body"),
    ),
    tool(
        SERVER,
        "ShareWithCounsel",
        "Share a document with someone outside the company through a time-limited link.",
        {
            "documentId": "string",
            "email": "string",
            "access": "enum(view|comment|download)",
            "expiresInDays": "integer",
            "message": "string",
        },
        ("documentId", "email", "access"),
    ),
)
