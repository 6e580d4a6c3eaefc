"""PTB persistence backed by our database, for the one thing the bot keeps between updates
outside it: which step of a case submission each citizen is at. Those states are read back
from the stored drafts, so nothing goes to a pickle file and nothing can disagree."""

from __future__ import annotations

from telegram.ext import BasePersistence, PersistenceInput

from bot.services import Services
from handlers.telegram.common import CHANNEL
from handlers.telegram.submission import CONVERSATION


class DraftPersistence(BasePersistence):
    """Restores the submission conversation from the drafts table. User, chat and bot data
    are not persisted: what they hold (an awaited search word, say) is fine to forget."""

    def __init__(self, services: Services) -> None:
        super().__init__(store_data=PersistenceInput(bot_data=False, chat_data=False,
                                                     user_data=False, callback_data=False))
        self.services = services

    async def get_conversations(self, name: str) -> dict:
        if name != CONVERSATION:
            return {}
        steps = await self.services.submissions.steps_on(CHANNEL)
        # The conversation is per user: its key is the Telegram user id alone.
        return {(int(user),): step.value for user, step in steps.items() if user.isdigit()}

    async def update_conversation(self, name: str, key, new_state) -> None:
        """Nothing to write: the service stored the draft's step with the answer itself, in
        the same transaction, before the conversation moved."""

    async def get_user_data(self) -> dict:
        return {}

    async def get_chat_data(self) -> dict:
        return {}

    async def get_bot_data(self) -> dict:
        return {}

    async def get_callback_data(self) -> None:
        return None

    async def update_user_data(self, user_id: int, data) -> None:
        pass

    async def update_chat_data(self, chat_id: int, data) -> None:
        pass

    async def update_bot_data(self, data) -> None:
        pass

    async def update_callback_data(self, data) -> None:
        pass

    async def drop_chat_data(self, chat_id: int) -> None:
        pass

    async def drop_user_data(self, user_id: int) -> None:
        pass

    async def refresh_user_data(self, user_id: int, user_data) -> None:
        pass

    async def refresh_chat_data(self, chat_id: int, chat_data) -> None:
        pass

    async def refresh_bot_data(self, bot_data) -> None:
        pass

    async def flush(self) -> None:
        pass
