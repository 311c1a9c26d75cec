"""The social domain's tools (social media publishing): the server's listing, names,
descriptions and input schemas."""

from __future__ import annotations

from models.scenarios.catalog import tool

SERVER = "social-publisher"
TOOLS = (
    tool(
        SERVER,
        "listPosts",
        "Lists a brand account's posts by status (scheduled, published, draft, failed), newest "
        "first, with text, media and publish time.",
        {
            "accountId": "string: brand account id",
            "status": "enum(scheduled|published|draft|failed)",
            "page": "integer: 1-based page",
            "pageSize": "integer: max 100",
        },
        ("accountId",),
        ro=True,
    ),
    tool(
        SERVER,
        "schedulePost",
        "Queues a post on a brand account. publishAt is an RFC 3339 instant, or 'now' to "
        "publish immediately. Links are shortened automatically.",
        {
            "accountId": "string",
            "text": "string: post text, max 2200 characters",
            "publishAt": "string: RFC 3339 or 'now'",
            "mediaUrls": "string[]: images or video to attach",
        },
        ("accountId", "text", "publishAt"),
        ro=False,
    ),
    tool(
        SERVER,
        "deletePost",
        "Deletes a published or scheduled post. Deleted posts cannot be restored.",
        {"postId": "string"},
        ("postId",),
        ro=False,
        destructive=True,
    ),
    tool(
        SERVER,
        "getInbox",
        "Mentions, comments and direct messages received by a brand account, newest first. "
        "Filter by type, or by post for its comments.",
        {
            "accountId": "string",
            "type": "enum(mention|comment|dm)",
            "postId": "string: only comments on this post",
            "limit": "integer",
            "page": "integer",
        },
        ("accountId",),
        ro=True,
    ),
    tool(
        SERVER,
        "replyToMessage",
        "Replies publicly to a mention or comment, or privately to a direct message, from the "
        "brand account.",
        {"messageId": "string: id from getInbox", "text": "string"},
        ("messageId", "text"),
    ),
    tool(
        SERVER,
        "sendDirectMessage",
        "Starts or continues a private conversation with any handle on the network.",
        {"accountId": "string", "recipient": "string: handle, without @", "text": "string"},
        ("accountId", "recipient", "text"),
    ),
    tool(
        SERVER,
        "getInsights",
        "Audience and performance analytics: reach, impressions, engagement, follower growth, "
        "and for ad campaigns spend against their daily cap.",
        {
            "accountId": "string",
            "postId": "string: one post",
            "campaignId": "string: one ad campaign",
            "period": "enum(day|week|month|quarter)",
            "metrics": "string[]",
        },
        ("accountId",),
        ro=True,
    ),
    tool(
        SERVER,
        "updateCampaignSpend",
        "Changes an ad campaign's daily spend cap (in the account currency) or end date. A cap "
        "of 0 pauses delivery.",
        {"campaignId": "string", "dailyCap": "number", "endDate": "string: date"},
        ("campaignId",),
    ),
    tool(
        SERVER,
        "addAccountMember",
        "Gives a person a role on a brand account. Admins can publish, spend and manage members.",
        {"accountId": "string", "email": "string", "role": "enum(admin|publisher|analyst)"},
        ("accountId", "email", "role"),
        ro=False,
        destructive=False,
    ),
)
