"""Dinero's error bodies and codes, raised by the domain and rendered by the app."""

from __future__ import annotations

from typing import Any

from starlette.responses import HTMLResponse

from dinero_sandbox.jsonio import DecimalJSONResponse

# Known codes (dinero-api.md §12).
NOT_FOUND_OR_BAD_URI = 40
UNAUTHORISED_FOR_RESOURCE = 41
VALIDATION = 42
OUT_OF_RANGE = 43
VALIDATION_DOCUMENT = 45
SERVER_ERROR = 50
TIMESTAMP_OUTDATED = 58
ITEM_NOT_FOUND = 63
ITEM_DELETED = 65
NO_PRO_SUBSCRIPTION = 90


class DineroError(Exception):
    """An error Dinero answers with its JSON error body."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        validation_errors: dict[str, str] | None = None,
        danish: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.validation_errors = validation_errors or {"message": message}
        self.danish = danish

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "validationErrors": self.validation_errors,
            "languageSpecificMessages": [
                {"property": prop, "message": self.danish or reason}
                for prop, reason in self.validation_errors.items()
            ],
            "errorMessageList": [
                {"Code": prop, "Message": reason} for prop, reason in self.validation_errors.items()
            ],
        }

    def response(self) -> DecimalJSONResponse:
        return DecimalJSONResponse(self.body(), status_code=self.status)


def validation(field: str, reason: str, code: int = VALIDATION) -> DineroError:
    """A 400 for one invalid or missing property."""
    return DineroError(400, code, "Validation error", {field: reason})


def stale_timestamp(entity: str) -> DineroError:
    return DineroError(
        400,
        TIMESTAMP_OUTDATED,
        "Timestamp outdated",
        {"Timestamp": f"The {entity} has been changed by someone else; fetch it and try again."},
        danish="Objektet er blevet ændret af en anden. Hent det igen og prøv igen.",
    )


def not_found(entity: str) -> DineroError:
    return DineroError(
        404, ITEM_NOT_FOUND, "Item not found", {"message": f"The {entity} was not found."}
    )


def bad_guid(entity: str) -> DineroError:
    return DineroError(
        404, NOT_FOUND_OR_BAD_URI, "Invalid URI", {"message": f"Invalid {entity} guid."}
    )


def deleted(entity: str, status: int = 400) -> DineroError:
    return DineroError(
        status,
        ITEM_DELETED,
        "Item is deleted",
        {"message": f"Invalid {entity}Guid, the {entity.lower()} is deleted."},
        danish="Da objektet er blevet slettet, kan du ikke rette i det.",
    )


def html_not_found() -> HTMLResponse:
    """Unknown routes answer HTML, not JSON, as IIS does in front of Dinero."""
    page = (
        "<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head>"
        "<body><h2>404 - File or directory not found.</h2>"
        "<p>The resource you are looking for might have been removed, had its name changed, "
        "or is temporarily unavailable.</p></body></html>"
    )
    return HTMLResponse(page, status_code=404)
