"""The local stack: moto-backed AWS, fake Telegram and provider servers, a movable clock."""
