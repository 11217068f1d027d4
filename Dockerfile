# acnebot service image. Build: docker build -t acnebot .   Run: docker run --rm -p 8080:8080 acnebot
# Everything the service needs (FaceMesh models inside the mediapipe wheel, the lesion model in
# models/weights/) is in the image: nothing is downloaded at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ACNEBOT_DATA_DIR=/var/lib/acnebot
# mediapipe's OpenCV needs these shared libraries
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot bot
COPY conversations conversations
COPY pipeline pipeline
COPY models models
COPY storage storage
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/acnebot --create-home acnebot
USER acnebot
EXPOSE 8080 8081
ENTRYPOINT ["acnebot"]
CMD ["demo"]
