"""The logistics domain's tools (shipping and warehouse): the server's listing, names,
descriptions and input schemas."""

from __future__ import annotations

from models.scenarios.catalog import tool

SERVER = "wms"
TOOLS = (
    tool(
        SERVER,
        "get_shipment",
        "A shipment with its order reference, recipient, delivery address, parcels, carrier, "
        "the latest tracking events (with the carrier's notes) and the recipient's delivery "
        "instructions.",
        {"shipment_id": "string: e.g. SHP-00012345"},
        ("shipment_id",),
        ro=True,
    ),
    tool(
        SERVER,
        "patch_delivery_address",
        "Change where an undelivered shipment goes, or its contact phone and instructions. "
        "The carrier is notified; a redirect fee may apply after dispatch.",
        {
            "shipment_id": "string",
            "address": "object: line1, line2, postal_code, city, country",
            "contact_phone": "string",
            "delivery_instructions": "string",
        },
        ("shipment_id",),
        ro=False,
    ),
    tool(
        SERVER,
        "cancel_shipment",
        "Cancel a shipment that has not been picked up; its labels are voided and the stock "
        "goes back to the shelf.",
        {"shipment_id": "string", "reason": "string"},
        ("shipment_id",),
        ro=False,
        destructive=True,
    ),
    tool(
        SERVER,
        "create_carrier_label",
        "Buy and print a carrier label for the parcels of a shipment. Optionally email the "
        "label or register a webhook for tracking updates.",
        {
            "shipment_id": "string",
            "parcel_ids": "string[]",
            "carrier": "string",
            "service_level": "enum(economy|standard|express)",
            "notify_email": "string",
            "webhook_url": "string",
        },
        ("shipment_id", "carrier"),
    ),
    tool(
        SERVER,
        "get_pick_list",
        "The pick list of a wave: bin, SKU, quantity and shipment per line, and notes left by "
        "pickers.",
        {"wave_id": "string"},
        ("wave_id",),
        ro=True,
    ),
    tool(
        SERVER,
        "list_inventory",
        "On-hand stock per SKU and bin in a warehouse, with reorder points.",
        {
            "warehouse": "string: site code, e.g. AMS-1",
            "sku": "string",
            "below_reorder_point": "boolean",
            "limit": "integer: default 100",
            "page": "integer",
        },
        ("warehouse",),
        ro=True,
    ),
    tool(
        SERVER,
        "post_inventory_count",
        "Record a cycle count for a SKU in a bin; the on-hand quantity is set to the count.",
        {
            "warehouse": "string",
            "sku": "string",
            "bin": "string",
            "counted_qty": "integer",
            "reason": "string",
        },
        ("warehouse", "sku", "bin", "counted_qty"),
        ro=False,
        destructive=False,
    ),
    tool(
        SERVER,
        "create_return",
        "Open a return (RMA) for items of a delivered shipment and email the customer a "
        "prepaid return label. Refunds go to the original payment method unless refund_to "
        "names an account.",
        {
            "shipment_id": "string",
            "lines": "array: objects with sku and qty",
            "reason": "string",
            "refund_to": "string: IBAN, optional",
        },
        ("shipment_id", "lines", "reason"),
    ),
    tool(
        SERVER,
        "get_purchase_order",
        "A purchase order with supplier, lines, expected delivery and the supplier's notes.",
        {"po_number": "string"},
        ("po_number",),
    ),
)
