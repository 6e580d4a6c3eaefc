"""Kakao i Open Builder skill requests and responses (skill format 2.0), as pydantic models.

Requests are parsed leniently: Kakao adds fields without notice, so unknown ones are ignored,
and one we do not read may come in any type (see "the request" below).
Responses are checked strictly when they are built: a component over one of Kakao's documented
limits (https://kakaobusiness.gitbook.io/main/tool/chatbot/skill_guide/answer_json_format) is
a ValidationError here, in our code and tests, not a message that silently fails to arrive."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

# Kakao's documented limits.
MAX_OUTPUTS = 3
MAX_QUICK_REPLIES = 10
MAX_CAROUSEL_ITEMS = 10
MAX_LIST_CAROUSEL_ITEMS = 5
MAX_LIST_ITEMS = 5
MAX_LIST_ITEMS_IN_CAROUSEL = 4
MAX_BUTTONS = 3
MAX_SIDE_BY_SIDE_BUTTONS = 2
SIMPLE_TEXT_LENGTH = 1000
CARD_TITLE_LENGTH = 50
BASIC_CARD_DESCRIPTION_LENGTH = 230
TEXT_CARD_DESCRIPTION_LENGTH = 400
TEXT_CARD_CAROUSEL_DESCRIPTION_LENGTH = 128
ALT_TEXT_LENGTH = 50
SIMPLE_IMAGE_ALT_TEXT_LENGTH = 1000
BUTTON_LABEL_LENGTH = 14
SIDE_BY_SIDE_LABEL_LENGTH = 8
QUICK_REPLY_LABEL_LENGTH = 14  # not documented; kept as short as a button's for big fingers


# --- the request ---------------------------------------------------------------------------
#
# Two kinds of field. Those we read (the user's id, the utterance, the language, the block and
# intent ids, the bot id, the action's params and clientExtra) are checked: a number is read as
# its text, anything else of the wrong type refuses the request (the route's 400 names the
# field). Those we do not read are typed only as far as they are useful to a reader: a number
# becomes its text, and a value of any other unexpected type is ignored (read as absent), so a
# change on Kakao's side in a field we never use cannot refuse a citizen's request. Real channels
# send e.g. `"appUserId": 1620160768`, where the documentation shows a string.


def _number_as_text(value: Any) -> Any:
    # bool is an int in Python, but True is not anyone's id: it is left to be refused.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _absent_if_invalid(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


# A field we read: text (a number is read as its text); any other type is refused.
Text = Annotated[str, BeforeValidator(_number_as_text)]
# A field we do not read: text if it can be read as text, else absent.
LooseText = Annotated[str | None, WrapValidator(_absent_if_invalid),
                      BeforeValidator(_number_as_text)]


def _mapping_or_empty(value: Any) -> Any:
    return value if isinstance(value, dict) else {}


def _list_or_empty(value: Any) -> Any:
    return value if isinstance(value, list) else []


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_missing(cls, value: Any) -> Any:
        # A field Kakao sends as null is read as absent, so its default applies.
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if v is not None}
        return value


class UserProperties(_Request):
    # The plusfriendUserKey is kept as a second key of the account (citizens.alias), never used
    # to find anyone: one of the wrong type or over the column's length is ignored, not refused.
    plusfriend_user_key: Annotated[
        Annotated[str, StringConstraints(max_length=128)] | None,
        WrapValidator(_absent_if_invalid), BeforeValidator(_number_as_text),
    ] = Field(None, alias="plusfriendUserKey")
    app_user_id: LooseText = Field(None, alias="appUserId")
    is_friend: Annotated[bool | None, WrapValidator(_absent_if_invalid)] = Field(
        None, alias="isFriend")  # absent unless the user added us


class User(_Request):
    id: Text = Field(min_length=1, max_length=128)  # the botUserKey (Kakao: at most 70)
    type: LooseText = None
    properties: Annotated[UserProperties, BeforeValidator(_mapping_or_empty)] = Field(
        default_factory=UserProperties)


class Block(_Request):
    """The block that called (userRequest.block), or the block the utterance matched
    (intent): its id says which of our blocks it is."""

    id: Text | None = None
    name: LooseText = None


class UserRequest(_Request):
    user: User
    utterance: Text = ""
    timezone: LooseText = None
    lang: Text | None = None
    block: Block | None = None
    params: Annotated[dict[str, Any], BeforeValidator(_mapping_or_empty)] = Field(
        default_factory=dict)


class Bot(_Request):
    id: Text = Field(min_length=1, max_length=128)
    name: LooseText = None


class Action(_Request):
    id: LooseText = None
    name: LooseText = None
    params: dict[str, Any] = Field(default_factory=dict)
    # The params resolved ({"origin", "value", ...} each): read only for a plugin's value
    # (handlers/kakao/phone.py), so anything but a mapping is read as none.
    detail_params: Annotated[dict[str, Any], BeforeValidator(_mapping_or_empty)] = Field(
        default_factory=dict, alias="detailParams")
    client_extra: dict[str, Any] | None = Field(None, alias="clientExtra")

    @field_validator("client_extra", mode="before")
    @classmethod
    def _no_extra(cls, value: Any) -> Any:
        # Kakao sends null, and older skills the string "null", when no button was pressed.
        if value is None or value == "null" or value == "":
            return None
        return value


class SkillRequest(_Request):
    user_request: UserRequest = Field(alias="userRequest")
    bot: Bot
    action: Action = Field(default_factory=Action)
    intent: Block | None = None  # its `extra` (knowledge+ matches) is not read
    contexts: Annotated[list[Any], BeforeValidator(_list_or_empty)] = Field(
        default_factory=list)

    @property
    def user_key(self) -> str:
        return self.user_request.user.id

    @property
    def extra(self) -> dict[str, Any]:
        return self.action.client_extra or {}

    @property
    def block_ids(self) -> set[str]:
        """The ids of the block that called: userRequest.block's and the intent's (the same
        block when both are sent)."""
        return {block.id for block in (self.user_request.block, self.intent)
                if block is not None and block.id}


# --- the response --------------------------------------------------------------------------


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _https(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return url


class Button(_Response):
    label: str = Field(min_length=1, max_length=BUTTON_LABEL_LENGTH)
    action: Literal["message", "block", "webLink", "share", "phone"]
    message_text: str | None = Field(None, alias="messageText")
    block_id: str | None = Field(None, alias="blockId")
    web_link_url: str | None = Field(None, alias="webLinkUrl")
    phone_number: str | None = Field(None, alias="phoneNumber")
    extra: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _target(self) -> Button:
        needs = {"block": "block_id", "webLink": "web_link_url", "phone": "phone_number"}
        field = needs.get(self.action)
        if field and not getattr(self, field):
            raise ValueError(f"a {self.action} button needs {field}")
        if self.web_link_url:
            _https(self.web_link_url)
        return self


ButtonLayout = Literal["vertical", "horizontal"]


def _check_buttons(buttons: list[Button], layout: ButtonLayout | None,
                   side_by_side: bool = False) -> None:
    """At most 3 buttons, stacked; at most 2 side by side, with labels of at most 8."""
    if len(buttons) > MAX_BUTTONS:
        raise ValueError(f"at most {MAX_BUTTONS} buttons on a card")
    # An explicit buttonLayout wins over the layout a 1:1 thumbnail would give.
    if layout == "horizontal" or (layout is None and side_by_side):
        if len(buttons) > MAX_SIDE_BY_SIDE_BUTTONS:
            raise ValueError(f"at most {MAX_SIDE_BY_SIDE_BUTTONS} buttons side by side")
        long = [b.label for b in buttons if len(b.label) > SIDE_BY_SIDE_LABEL_LENGTH]
        if len(buttons) == MAX_SIDE_BY_SIDE_BUTTONS and long:
            raise ValueError(f"labels of buttons side by side: at most "
                             f"{SIDE_BY_SIDE_LABEL_LENGTH} characters ({long[0]!r})")


class Thumbnail(_Response):
    image_url: str = Field(alias="imageUrl")
    alt_text: str | None = Field(None, alias="altText", max_length=ALT_TEXT_LENGTH)
    fixed_ratio: bool | None = Field(None, alias="fixedRatio")  # 1:1, buttons side by side

    _url = field_validator("image_url")(classmethod(lambda cls, v: _https(v)))


class SimpleText(_Response):
    text: str = Field(min_length=1, max_length=SIMPLE_TEXT_LENGTH)


class SimpleImage(_Response):
    """A picture on its own; `altText` is what Kakao shows when the picture cannot be loaded
    (required by Kakao)."""

    image_url: str = Field(alias="imageUrl")
    alt_text: str = Field(alias="altText", min_length=1,
                          max_length=SIMPLE_IMAGE_ALT_TEXT_LENGTH)

    _url = field_validator("image_url")(classmethod(lambda cls, v: _https(v)))


class TextCard(_Response):
    title: str | None = Field(None, min_length=1, max_length=CARD_TITLE_LENGTH)
    description: str | None = Field(None, min_length=1, max_length=TEXT_CARD_DESCRIPTION_LENGTH)
    buttons: list[Button] = Field(default_factory=list)
    button_layout: ButtonLayout | None = Field(None, alias="buttonLayout")

    @model_validator(mode="after")
    def _valid(self) -> TextCard:
        if not self.title and not self.description:
            raise ValueError("a textCard needs a title or a description")
        _check_buttons(self.buttons, self.button_layout)
        return self


class BasicCard(_Response):
    title: str | None = Field(None, min_length=1, max_length=CARD_TITLE_LENGTH)
    description: str | None = Field(None, min_length=1,
                                    max_length=BASIC_CARD_DESCRIPTION_LENGTH)
    thumbnail: Thumbnail
    buttons: list[Button] = Field(default_factory=list)
    button_layout: ButtonLayout | None = Field(None, alias="buttonLayout")

    @model_validator(mode="after")
    def _valid(self) -> BasicCard:
        _check_buttons(self.buttons, self.button_layout, bool(self.thumbnail.fixed_ratio))
        return self


class Link(_Response):
    web: str | None = None  # wins over pc and mobile
    pc: str | None = None
    mobile: str | None = None


class ListItem(_Response):
    title: str = Field(min_length=1, max_length=CARD_TITLE_LENGTH)
    description: str | None = None
    image_url: str | None = Field(None, alias="imageUrl")
    link: Link | None = None
    action: Literal["block", "message"] | None = None
    block_id: str | None = Field(None, alias="blockId")
    message_text: str | None = Field(None, alias="messageText")
    extra: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _target(self) -> ListItem:
        if self.action == "block" and not self.block_id:
            raise ValueError("a block list item needs block_id")
        return self


class ListHeader(_Response):
    title: str = Field(min_length=1, max_length=CARD_TITLE_LENGTH)


class ListCard(_Response):
    header: ListHeader
    items: list[ListItem] = Field(min_length=1, max_length=MAX_LIST_ITEMS)
    buttons: list[Button] = Field(default_factory=list)
    button_layout: ButtonLayout | None = Field(None, alias="buttonLayout")

    @model_validator(mode="after")
    def _valid(self) -> ListCard:
        _check_buttons(self.buttons, self.button_layout)
        return self


CarouselItem = BasicCard | TextCard | ListCard
_CAROUSEL_TYPES = {"basicCard": BasicCard, "textCard": TextCard, "listCard": ListCard}


class Carousel(_Response):
    type: Literal["basicCard", "textCard", "listCard"]
    items: list[CarouselItem] = Field(min_length=1, max_length=MAX_CAROUSEL_ITEMS)

    @model_validator(mode="after")
    def _valid(self) -> Carousel:
        kind = _CAROUSEL_TYPES[self.type]
        if not all(isinstance(item, kind) for item in self.items):
            raise ValueError(f"every item of a {self.type} carousel must be a {self.type}")
        if self.type == "listCard" and len(self.items) > MAX_LIST_CAROUSEL_ITEMS:
            raise ValueError(f"at most {MAX_LIST_CAROUSEL_ITEMS} listCards in a carousel")
        if self.type == "listCard" and any(len(item.items) > MAX_LIST_ITEMS_IN_CAROUSEL
                                           for item in self.items):
            raise ValueError(f"a listCard in a carousel: at most {MAX_LIST_ITEMS_IN_CAROUSEL} "
                             "items")
        if self.type == "textCard" and any(
            item.description and len(item.description) > TEXT_CARD_CAROUSEL_DESCRIPTION_LENGTH
            for item in self.items
        ):
            raise ValueError(f"a textCard in a carousel: description at most "
                             f"{TEXT_CARD_CAROUSEL_DESCRIPTION_LENGTH} characters")
        return self


class Output(_Response):
    """One element of `template.outputs`: exactly one component."""

    simple_text: SimpleText | None = Field(None, alias="simpleText")
    simple_image: SimpleImage | None = Field(None, alias="simpleImage")
    text_card: TextCard | None = Field(None, alias="textCard")
    basic_card: BasicCard | None = Field(None, alias="basicCard")
    list_card: ListCard | None = Field(None, alias="listCard")
    carousel: Carousel | None = None

    @model_validator(mode="after")
    def _one(self) -> Output:
        set_ = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(set_) != 1:
            raise ValueError("an output holds exactly one component")
        return self


class QuickReply(_Response):
    label: str = Field(min_length=1, max_length=QUICK_REPLY_LABEL_LENGTH)
    action: Literal["message", "block"]
    message_text: str | None = Field(None, alias="messageText")
    block_id: str | None = Field(None, alias="blockId")
    extra: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _target(self) -> QuickReply:
        if self.action == "block" and not self.block_id:
            raise ValueError("a block quick reply needs block_id")
        return self


class Template(_Response):
    outputs: list[Output] = Field(min_length=1, max_length=MAX_OUTPUTS)
    quick_replies: list[QuickReply] = Field(default_factory=list, alias="quickReplies",
                                            max_length=MAX_QUICK_REPLIES)


class SkillResponse(_Response):
    version: Literal["2.0"] = "2.0"
    template: Template
    data: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        body = self.model_dump(by_alias=True, exclude_none=True)
        if not body["template"]["quickReplies"]:
            del body["template"]["quickReplies"]
        for output in body["template"]["outputs"]:
            for component in output.values():
                _drop_empty_buttons(component)
        return body


def _drop_empty_buttons(component: dict[str, Any]) -> None:
    if component.get("buttons") == []:
        del component["buttons"]
    for item in component.get("items", []):
        if isinstance(item, dict):
            _drop_empty_buttons(item)


def output(component: SimpleText | SimpleImage | TextCard | BasicCard | ListCard | Carousel
           ) -> Output:
    field = {SimpleText: "simple_text", SimpleImage: "simple_image", TextCard: "text_card",
             BasicCard: "basic_card", ListCard: "list_card", Carousel: "carousel"}[type(component)]
    return Output(**{field: component})
