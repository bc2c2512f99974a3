import os
from flask import Flask
from redis import Redis

app = Flask(__name__)
redis = Redis(host=os.environ.get("REDIS_HOST", "redis"), port=6379)


@app.route("/")
def hello():
    return f"seen {redis.incr('hits')} times\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
